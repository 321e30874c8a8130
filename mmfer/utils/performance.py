"""Memory format, compilation and mixed precision: the one mechanism behind the performance
options of ``tools/train.py``, ``tools/test.py``, ``tools/analysis/benchmark.py`` and
:class:`~mmfer.apis.FERInferencer` (docs/performance.md has the measured figures).

Config keys (top level, ``configs/_base_/default_runtime.py`` sets the defaults):

- ``channels_last = True`` — 4-D parameters and buffers (conv weights) in
  ``torch.channels_last`` (NHWC) memory format. PyTorch picks the NHWC convolution kernels when
  the weight *or* the input is channels_last, so the weights are enough: the first convolution
  returns an NHWC map and the following layers keep it. Same arithmetic, other loop order:
  logits agree to ~1e-6 (tests/test_engine/test_performance.py), faster on CPU (oneDNN) and on
  GPUs with tensor cores. Applied by :class:`~mmfer.engine.runner.FERRunner` after the model is
  built and before it is moved to the device / wrapped in DDP.
- ``compile = False`` — mmengine's own key (``Runner._maybe_compile``): ``True`` or a dict of
  ``torch.compile`` keyword arguments (e.g. ``dict(mode='max-autotune')``). mmengine compiles
  ``train_step`` only; ``FERRunner`` also compiles ``val_step`` / ``test_step`` and logs the
  time of the first (compiling) call of each.
- ``amp = None`` — ``'bf16'`` or ``'fp16'``: autocast of the forward passes. For training,
  :func:`apply_performance_cfg` sets the optim wrapper to
  :class:`~mmfer.engine.optimizers.FERAmpOptimWrapper` (or its SAM variant); validation and
  test run under :func:`autocast_context` too.
- ``fused_optimizer = False`` — ``True``: the optimizer of ``optim_wrapper`` is built with
  ``fused=True``, PyTorch's one-kernel step over all parameters instead of a Python loop with
  several element-wise ops per tensor (:data:`FUSED_OPTIMIZERS`: SGD, Adam, AdamW, Adagrad, on
  CPU and CUDA). The same update, rounded differently on a few elements: SGD and Adam within
  two float32 ulps of the loop after three steps (tests/test_engine/test_performance.py). On
  CPU the step itself is 2.2x (DAN, SGD: 42 -> 19 ms) and 3.1x (QCS, Adam: 271 -> 91 ms)
  faster (``tools/analysis/perf_options.py --optimizer-step``, docs/performance.md), under
  1 % of a DAN step at 224; on a GPU it replaces hundreds of kernel launches per step. Off by
  default so that an official recipe's optimizer is the official one (QCS trains with Adam);
  a config or ``--fused-optim`` turns it on.

Why these defaults: ``channels_last`` is exact and faster at the batch sizes the configs train
and test with (DAN 224 px 1.15-1.31x, the demo model at 64 px 1.07-1.24x; slower only for
64-px ResNet-18s at batch 4-16, docs/benchmarks.md), so it is on; ``compile`` costs a cold
start of tens of seconds and is slower at batch 1, so it is opt-in;
mixed precision changes the numbers (bf16 logits differ by ~1e-2), so it is opt-in.
"""
import time
from argparse import BooleanOptionalAction
from contextlib import nullcontext
from typing import Any, Callable, Optional

import torch
import torch.nn as nn

__all__ = ['AMP_DTYPES', 'parse_amp', 'check_amp', 'autocast_context', 'to_channels_last',
           'channels_last_input', 'compile_model', 'FREEZE_MODE', 'compile_cfg_of',
           'is_frozen_compile', 'check_not_frozen_for_training', 'FrozenCompiled', 'apply_performance_cfg',
           'amp_optim_wrapper_type', 'add_performance_args', 'performance_options',
           'inferencer_options', 'amp_optim_wrapper_cfg', 'cpu_has_native_bf16',
           'cpu_has_native_fp16', 'float_outputs', 'TimedFirstCall', 'FUSED_OPTIMIZERS',
           'fused_optimizer_cfg', 'fused_optimizer_of']

#: ``amp`` values and their autocast dtypes
AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}
_ALIASES = {'bf16': 'bf16', 'bfloat16': 'bf16', 'fp16': 'fp16', 'float16': 'fp16',
            'half': 'fp16'}

_FP16_CPU = ('amp=fp16 is refused on this CPU: it has no native fp16 arithmetic (AVX512-FP16 / '
             'AMX-FP16), so oneDNN emulates it (a ResNet-18 forward 22x slower than fp32 on an '
             "AVX2 machine, docs/performance.md). Use amp='bf16' or amp=None (fp32); on a CPU "
             'with native fp16 (cpu_has_native_fp16()) amp=fp16 runs, with a dynamic loss '
             'scaler for training')


def parse_amp(amp: Any) -> Optional[str]:
    """Canonical ``amp`` value: ``None`` (fp32), ``'bf16'`` or ``'fp16'``.

    Accepts ``None`` / ``False`` / ``'none'`` / ``'fp32'`` (fp32) and the dtype names
    ``'bfloat16'`` / ``'float16'``. ``True`` (the old ``--amp`` store_true flag) is *not*
    accepted here, because its meaning depends on the device: :func:`apply_performance_cfg`
    maps it.

    Raises:
        ValueError: any other value, naming the allowed ones.
    """
    if amp is None or amp is False:
        return None
    if isinstance(amp, str):
        key = amp.strip().lower()
        if key in ('', 'none', 'fp32', 'float32'):
            return None
        if key in _ALIASES:
            return _ALIASES[key]
    raise ValueError(f"amp must be None, 'bf16' or 'fp16' (aliases 'bfloat16', 'float16'; "
                     f"None / 'fp32' for full precision), got {amp!r}")


def _onednn_supports(dtype: str) -> bool:
    """oneDNN's own check ``torch.ops.mkldnn._is_mkldnn_<dtype>_supported()``; False on builds
    without oneDNN."""
    try:
        return bool(getattr(torch.ops.mkldnn, f'_is_mkldnn_{dtype}_supported')())
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
        return False


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (AVX512-BF16 / AMX). Without it bf16
    autocast is emulated and much slower than fp32 (measured in docs/performance.md)."""
    return _onednn_supports('bf16')


def cpu_has_native_fp16() -> bool:
    """Whether oneDNN runs fp16 natively on this CPU (AVX512-FP16 / AMX-FP16, e.g. Intel
    Sapphire Rapids and later). Without it fp16 autocast is emulated and much slower than fp32;
    with it DAN's batch-32 inference in fp16 + channels_last was 4.7x fp32 NCHW, with logits
    ten times closer to fp32's than bf16's (docs/performance.md)."""
    return _onednn_supports('fp16')


def check_amp(device_type: str, amp: Any) -> Optional[str]:
    """Validate ``amp`` for ``device_type`` (``'cpu'``, ``'cuda'``, ...) and return it canonical.

    fp16 on a CPU is accepted only where :func:`cpu_has_native_fp16` is True; training then
    gets a dynamic ``torch.amp.GradScaler('cpu')`` (:class:`~mmfer.engine.optimizers.
    FERAmpOptimWrapper`), as on CUDA.

    Raises:
        ValueError: an unknown value, or fp16 on a CPU without native fp16 (see ``_FP16_CPU``
            for why), or bf16 on a CUDA device that does not support it (pre-Ampere GPUs).
    """
    amp = parse_amp(amp)
    if amp is None:
        return None
    if device_type == 'cpu' and amp == 'fp16' and not cpu_has_native_fp16():
        raise ValueError(_FP16_CPU)
    if (device_type == 'cuda' and amp == 'bf16' and torch.cuda.is_available()
            and not torch.cuda.is_bf16_supported()):
        raise ValueError(f'amp=bf16: {torch.cuda.get_device_name()} has no bf16 support '
                         "(needs compute capability >= 8.0); use amp='fp16' (with its loss "
                         'scaler) or amp=None')
    return amp


def autocast_context(device_type: str, amp: Any):
    """A context manager: ``nullcontext()`` for ``amp=None``, else ``torch.autocast`` on
    ``device_type`` with the dtype of ``amp`` (``'bf16'`` → ``torch.bfloat16``, ``'fp16'`` →
    ``torch.float16``).

    Raises:
        ValueError: see :func:`check_amp`.
    """
    amp = check_amp(device_type, amp)
    if amp is None:
        return nullcontext()
    return torch.autocast(device_type=device_type, dtype=AMP_DTYPES[amp])


def to_channels_last(model: nn.Module) -> nn.Module:
    """Convert every 4-D parameter and buffer of ``model`` to ``torch.channels_last`` in place
    (``Module.to(memory_format=...)`` converts exactly those) and return ``model``.

    The parameter objects stay the same (their ``.data`` is replaced), so an optimizer built
    before still holds them; ``load_state_dict`` copies into them and keeps the format.
    """
    return model.to(memory_format=torch.channels_last)


def channels_last_input(x: Any) -> Any:
    """A 4-D tensor in ``channels_last``; any other value (other tensors, lists, dicts,
    ``None``) is returned unchanged. Not needed for speed when the model's weights are
    channels_last (see the module docstring); useful to feed a compiled model inputs of one
    layout."""
    if isinstance(x, torch.Tensor) and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def compile_model(model: Callable, mode: Optional[str] = None, freeze: bool = False,
                  **kwargs) -> Callable:
    """``torch.compile(model, mode=mode, **kwargs)``: a module, or a function (e.g. a
    ``test_step``). Compilation happens at the first call (the cold start: ~30 s for a
    ResNet-18 on a CPU, docs/performance.md) and again for every new input shape.

    ``freeze=True`` (or ``mode='freeze'``, or ``options=dict(freezing=True)`` as
    :func:`compile_cfg_of` writes it) compiles with inductor's ``freezing`` option: under
    ``no_grad`` the weights become constants of the compiled graph (batch norms folded into the
    convolutions, oneDNN weights pre-packed on the CPU), for inference only — a frozen graph
    does not see later changes of the weights (:func:`is_frozen_compile`)."""
    if not hasattr(torch, 'compile'):  # pragma: no cover - torch < 2.0
        raise RuntimeError('compile needs PyTorch >= 2.0')
    if mode == FREEZE_MODE:
        mode, freeze = None, True
    if freeze or is_frozen_compile(kwargs):  # every spelling gets the global flag
        kwargs['options'] = dict(kwargs.get('options') or {}, freezing=True)
        return FrozenCompiled(torch.compile(model, mode=mode, **kwargs))
    return torch.compile(model, mode=mode, **kwargs)


class FrozenCompiled:
    """Call a compiled function with inductor's global ``freezing`` flag set. The
    ``options`` of ``torch.compile`` reach inductor only; dynamo decides at trace time, from the
    global flag (``torch._dynamo.utils.is_parameter_freezing``), whether parameters become
    constants — without it nothing is frozen (measured: DAN b32 cold start and speed as a plain
    compile)."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def __call__(self, *args, **kwargs):
        import torch._inductor.config as inductor_config
        with inductor_config.patch(freezing=True):
            return self.fn(*args, **kwargs)


#: the pseudo-mode of ``--compile freeze``: compile with inductor's ``freezing`` (inference)
FREEZE_MODE = 'freeze'


def compile_cfg_of(compile_arg: Any) -> Any:
    """The ``compile`` config value of a ``--compile [MODE]`` switch: ``True`` / ``None`` as
    given, ``'freeze'`` → ``dict(options=dict(freezing=True))``, another mode →
    ``dict(mode=MODE)``."""
    if compile_arg == FREEZE_MODE:
        return dict(options=dict(freezing=True))
    if isinstance(compile_arg, str):
        return dict(mode=compile_arg)
    return compile_arg


def is_frozen_compile(compile_cfg: Any) -> bool:
    """Whether a ``compile`` config asks for inductor's ``freezing`` (weights baked into the
    graph: right for test / inference, wrong for training and for validation during training,
    whose weights change between calls)."""
    if not isinstance(compile_cfg, dict):
        return False
    return compile_cfg.get('mode') == FREEZE_MODE or bool(
        (compile_cfg.get('options') or {}).get('freezing', False))


def check_not_frozen_for_training(compile_cfg: Any) -> None:
    """Refuse a frozen compile where the weights will change (training, val during training)."""
    if is_frozen_compile(compile_cfg):
        raise ValueError(
            'compile with freezing (--compile freeze, compile.options.freezing=True) bakes the '
            'weights into the compiled graph as constants, so a model that trains would keep '
            'validating with its first weights; use it only to test / infer (tools/test.py, '
            'FERInferencer, benchmark.py), and plain --compile for training')


class TimedFirstCall:
    """Wrap ``fn`` and report the wall time of its first call to ``report(seconds)`` (the cold
    start of a compiled function: tracing + code generation + one run)."""

    def __init__(self, fn: Callable, report: Callable[[float], None]):
        self.fn, self.report, self.done = fn, report, False

    def __call__(self, *args, **kwargs):
        if self.done:
            return self.fn(*args, **kwargs)
        start = time.perf_counter()
        out = self.fn(*args, **kwargs)
        self.done = True
        self.report(time.perf_counter() - start)
        return out


def float_outputs(outputs: Any) -> Any:
    """Cast the bf16 / fp16 floating tensors of data samples (``pred_score`` ...) or of a
    tensor / list / tuple / dict to float32, so that metrics, ``.numpy()`` and pickled results
    see what fp32 inference gives them."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float() if outputs.dtype in (torch.bfloat16, torch.float16) else outputs
    if isinstance(outputs, (list, tuple)):
        return type(outputs)(float_outputs(o) for o in outputs)
    if isinstance(outputs, dict):
        return type(outputs)((k, float_outputs(v)) for k, v in outputs.items())
    if hasattr(outputs, 'all_keys') and hasattr(outputs, 'set_field'):  # mmengine BaseDataElement
        for key in list(outputs.keys()):
            value = getattr(outputs, key)
            if isinstance(value, torch.Tensor) and value.dtype in (torch.bfloat16, torch.float16):
                outputs.set_field(value.float(), key, dtype=torch.Tensor)
    return outputs


def amp_optim_wrapper_type(current: Optional[str]) -> str:
    """The mixed-precision optim wrapper replacing ``current``: SAM configs
    (``SAMOptimWrapper`` / ``SAMAmpOptimWrapper``) get ``SAMFERAmpOptimWrapper`` (two-pass SAM
    step, works on CPU); everything else ``FERAmpOptimWrapper``."""
    sam = current in ('SAMOptimWrapper', 'SAMAmpOptimWrapper', 'SAMFERAmpOptimWrapper')
    return 'SAMFERAmpOptimWrapper' if sam else 'FERAmpOptimWrapper'


def _device_type() -> str:
    from mmengine.device import get_device
    return get_device().split(':')[0]


def apply_performance_cfg(cfg, channels_last: Optional[bool] = None, compile=None,
                          amp: Any = None, device_type: Optional[str] = None,
                          train: bool = True, fused_optimizer: Optional[bool] = None):
    """Merge the CLI switches into ``cfg`` (a mmengine ``Config``), validate, and for
    ``amp`` set the optim wrapper; returns ``cfg``.

    Args:
        cfg: the config; its keys ``channels_last`` / ``compile`` / ``amp`` are the defaults.
        channels_last (bool, optional): ``--channels-last`` / ``--no-channels-last``; None keeps
            the config's value (``True`` from ``default_runtime.py``; False when absent).
        compile (bool | dict | 'freeze', optional): ``--compile``; None keeps the config's
            value. ``'freeze'`` (inductor freezing) is refused when ``train``.
        amp: ``--amp``: ``'bf16'`` / ``'fp16'``, or ``True`` for the old store_true flag, which
            means fp16 on CUDA (mmengine's ``AmpOptimWrapper`` default) and bf16 on CPU (every
            CPU runs it; fp16 only those with native fp16). None keeps the config's ``amp``.
        device_type (str, optional): default mmengine's ``get_device()`` (``'cuda'`` when a GPU
            is visible, else ``'cpu'``).
        train (bool): also set ``optim_wrapper`` for ``amp`` (training). Default True.
        fused_optimizer (bool, optional): ``--fused-optim`` / ``--no-fused-optim``; None keeps
            the config's ``fused_optimizer`` (False when absent). Checked here against the
            config's optimizer (:func:`fused_optimizer_cfg`) when ``train``; ``FERRunner``
            applies it when it builds the optim wrapper.

    Raises:
        ValueError: a bad value of any key (see :func:`check_amp`), naming the key.
    """
    device_type = device_type or _device_type()
    if channels_last is not None:
        cfg.channels_last = bool(channels_last)
    if not isinstance(cfg.get('channels_last', False), bool):
        raise ValueError(f"channels_last must be True or False, got {cfg.channels_last!r}")
    if compile is not None:
        cfg.compile = compile_cfg_of(compile) if compile == FREEZE_MODE else compile
    if not isinstance(cfg.get('compile', None), (bool, dict, type(None))):
        raise ValueError('compile must be True, False or a dict of torch.compile arguments '
                         f"(e.g. dict(mode='max-autotune')), got {cfg.compile!r}")
    if train:
        check_not_frozen_for_training(cfg.get('compile', None))
    if amp is True:
        amp = 'fp16' if device_type == 'cuda' else 'bf16'
    if amp is not None:
        cfg.amp = amp
    cfg.amp = check_amp(device_type, cfg.get('amp', None))
    if cfg.amp is not None and train and cfg.get('optim_wrapper', None) is not None:
        cfg.optim_wrapper = amp_optim_wrapper_cfg(cfg.optim_wrapper, cfg.amp)
    if fused_optimizer is not None:
        cfg.fused_optimizer = bool(fused_optimizer)
    if fused_optimizer_of(cfg) and train and cfg.get('optim_wrapper', None):
        fused_optimizer_cfg(cfg.optim_wrapper)  # a clear error now, not at the first iteration
    return cfg


def fused_optimizer_of(cfg) -> bool:
    """The config's ``fused_optimizer`` (False when absent).

    Raises:
        ValueError: a value other than True / False.
    """
    value = cfg.get('fused_optimizer', False)
    if not isinstance(value, bool):
        raise ValueError(f'fused_optimizer must be True or False, got {value!r}')
    return value


#: torch.optim classes with a fused step (``fused=True``) in torch 2.14, on CPU and CUDA
FUSED_OPTIMIZERS = ('SGD', 'Adam', 'AdamW', 'Adagrad')


def fused_optimizer_cfg(optim_wrapper: dict) -> dict:
    """A copy of the ``optim_wrapper`` config whose ``optimizer`` is built with
    ``fused=True`` (config key ``fused_optimizer``, module docstring).

    Raises:
        ValueError: the wrapper has no single ``optimizer`` dict (e.g. a dict of wrappers), the
            optimizer is not one of :data:`FUSED_OPTIMIZERS`, or it sets ``foreach=True`` (torch
            refuses both at once).
    """
    opt = optim_wrapper.get('optimizer', None) if isinstance(optim_wrapper, dict) else None
    if not isinstance(opt, dict):
        raise ValueError('fused_optimizer=True needs an optim_wrapper with one `optimizer` '
                         f'dict, got {optim_wrapper!r}; set fused=True in each optimizer '
                         'instead')
    name = opt.get('type', None)
    name = getattr(name, '__name__', name)
    if name not in FUSED_OPTIMIZERS:
        raise ValueError(f'fused_optimizer=True: {name!r} has no fused step in torch '
                         f'{torch.__version__} (those that have one: '
                         f'{", ".join(FUSED_OPTIMIZERS)}); set fused_optimizer=False')
    if opt.get('foreach', None):
        raise ValueError('fused_optimizer=True with optimizer.foreach=True: torch accepts only '
                         'one of the two; drop foreach')
    ow = type(optim_wrapper)(optim_wrapper)
    ow['optimizer'] = type(opt)(opt, fused=True)
    return ow


_AMP_WRAPPERS = ('FERAmpOptimWrapper', 'SAMFERAmpOptimWrapper')


def amp_optim_wrapper_cfg(optim_wrapper: dict, amp: Any) -> dict:
    """A copy of the ``optim_wrapper`` config that trains under ``amp`` (``'bf16'`` /
    ``'fp16'``): ``type`` from :func:`amp_optim_wrapper_type`, ``dtype=amp``; a given
    ``loss_scale`` is kept (else the wrapper's default: dynamic for fp16, none for bf16). An
    ``amp`` of None returns it unchanged."""
    amp = parse_amp(amp)
    if amp is None:
        return optim_wrapper
    ow = type(optim_wrapper)(optim_wrapper)
    if ow.get('type', 'OptimWrapper') not in _AMP_WRAPPERS:
        ow['type'] = amp_optim_wrapper_type(ow.get('type', 'OptimWrapper'))
    ow['dtype'] = amp
    if ow.get('loss_scale', None) is None:
        ow.pop('loss_scale', None)
    return ow


def add_performance_args(parser, train: bool = False) -> None:
    """``--amp [{bf16,fp16}]``, ``--compile [MODE]``, ``--channels-last`` /
    ``--no-channels-last`` (tools/train.py, tools/test.py, the
    demos and tools/analysis/benchmark.py share them); with ``train`` also
    ``--fused-optim`` / ``--no-fused-optim`` (tools/train.py, benchmark.py)."""
    parser.add_argument('--amp', nargs='?', const=True, default=None, choices=['bf16', 'fp16'],
                        help='mixed precision: bf16 (CPU or GPU, no loss scaling) or fp16 (GPU '
                        'or a CPU with native fp16, dynamic loss scaling); a bare --amp means '
                        'fp16 on a GPU, bf16 on a CPU')
    parser.add_argument('--compile', nargs='?', const=True, default=None, metavar='MODE',
                        help='torch.compile the train/val/test steps (config key compile); '
                        'MODE is torch.compile\'s mode, e.g. max-autotune, or freeze (inductor '
                        'freezing: weights baked in, inference / test only, refused for '
                        'training). The first call compiles (tens of seconds, logged)')
    parser.add_argument('--channels-last', action=BooleanOptionalAction, default=None,
                        help='weights in channels_last (NHWC) memory format; on by default '
                        '(config key channels_last in default_runtime.py)')
    if train:
        parser.add_argument('--fused-optim', action=BooleanOptionalAction, default=None,
                            dest='fused_optimizer',
                            help='build the optimizer with fused=True (one kernel per step, '
                            'the same update within ~1 float32 ulp); off by default '
                            '(config key fused_optimizer)')


def performance_options(args) -> dict:
    """The keyword arguments of :func:`mmfer.utils.performance.apply_performance_cfg` from the
    parsed switches."""
    compile_ = compile_cfg_of(args.compile)
    # --fused-optim exists on the training tools only; None keeps the config's value
    return dict(channels_last=args.channels_last, compile=compile_, amp=args.amp,
                fused_optimizer=getattr(args, 'fused_optimizer', None))



def inferencer_options(args, device: str = 'cpu') -> dict:
    """``FERInferencer`` keyword arguments from :func:`add_performance_args` switches (the
    demos): channels_last default True, a bare ``--amp`` fp16 on CUDA / bf16 on CPU."""
    opts = performance_options(args)
    amp = opts['amp']
    if amp is True:
        amp = 'fp16' if str(device).startswith('cuda') else 'bf16'
    return dict(channels_last=True if opts['channels_last'] is None else opts['channels_last'],
                compile=opts['compile'] or False, amp=amp)
