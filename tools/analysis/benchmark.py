"""Inference latency / throughput and training-step throughput of configs, with the performance
options (channels_last, torch.compile, bf16 / fp16 autocast), and the suite of every method.

    python tools/analysis/benchmark.py CONFIG [CONFIG ...] [--device cpu|cuda]
        [--batch-size 1] [--train] [--train-batch-size 16] [--shape 224 | H W | config]
        [--warmup 5] [--iters 20] [--num-threads N] [--out result.json|result.md]
        [--channels-last | --no-channels-last] [--compile [MODE]] [--amp {bf16,fp16}]
        [--no-memory] [--label-fields neg_label] [--cfg-options k=v]

    python tools/analysis/benchmark.py --suite [--methods dan:224 baseline qcs ...]
        [--settings official best bf16] [--quick] [--rounds 3] [--iters 3] [--shape 112]
        [--batch-size 32] [--train-batch-size 16] [--compile-train] [--out docs/x.md]

For every config the model is built under ``default_scope='mmfer'`` (random weights) and fed
random data in the format a dataloader produces (uint8 images + ``DataSample``s with random
``gt_label``), which the model's own ``data_preprocessor`` normalises:

- **params / GMACs**: parameters read by the inference forward and its MACs per image, as
  ``get_flops.py`` counts them (``mmfer.utils.flops``);
- **inference**: ``model.test_step(data)`` in eval mode under ``torch.no_grad`` (pre-processing
  + ``predict``), ``--batch-size`` images per call; reported as latency per image (median and
  90th percentile of the per-call time divided by the batch size, ms/img) and throughput
  (batch size / median call time, img/s);
- **training** (``--train``): one full optimizer step, ``model.train_step(data, optim_wrapper)``
  with the optim_wrapper built from the config's ``optim_wrapper`` (so SAM's two passes, AMP,
  gradient clipping are included); reported as samples/s (= batch / median step time).  A
  model with a ``num_branches`` attribute > 1 (e.g. QCS) gets N×V×3×H×W training inputs; one
  sample is then V images, and img/s = V × samples/s is reported too.  Label fields a
  training step needs besides ``gt_label`` (QCS: ``neg_label``, the negatives' class) are
  filled with random labels: those named by ``--label-fields`` and by a model attribute
  ``train_label_fields``; a field whose name ends in ``_map`` (LAN's ``guidance_map``) gets a
  random binary map of the shape of the tensor its loss compares it with.

Performance options (``mmfer.utils.performance``, the mechanism ``tools/train.py`` and
``tools/test.py`` use; docs/performance.md):

- ``--channels-last`` / ``--no-channels-last``: weights (and 4-D inputs) in NHWC. Default: the
  config's ``channels_last`` key (``True`` from ``default_runtime.py``);
- ``--compile [MODE]``: ``torch.compile`` of ``test_step`` (and of ``train_step``), as
  ``FERRunner`` does; the first call (the cold start: tracing, code generation, one run) is
  timed, printed and stored as ``first_call_s``;
- ``--amp bf16|fp16``: inference under ``autocast``; training with the config's optim wrapper
  turned into its AMP form (``amp_optim_wrapper_cfg``: ``FERAmpOptimWrapper``, which also runs
  bf16 on CPU). fp16 on a CPU is refused unless it has native fp16 (``cpu_has_native_fp16``;
  emulated elsewhere, see docs/performance.md).

Every row also reports:

- **max |Δ log p|**: the largest difference, over the images of one inference batch, between
  the log-softmax scores ``test_step`` returns with the options and those of the same weights in
  fp32, NCHW, eager. ``log p = z − logsumexp(z)``, so it is the logit difference up to one shift
  per image (at most twice the largest logit difference); it is read from ``test_step``'s own
  output so that the compiled path is the one compared. Exact options (channels_last, compile)
  should stay below 1e-5; bf16 does not (~1e-2);
- **peak memory** (MiB; ``--no-memory`` skips it). CUDA: ``torch.cuda.max_memory_allocated``
  over one call after ``reset_peak_memory_stats`` (weights, gradients, optimizer state,
  activations; not the allocator's cache). CPU: a fresh Python process (this script with
  ``--memory-child``) builds the model, applies the options (without compile: a compile would be
  a second cold start) and runs two calls; the figure is its peak resident set (``VmHWM``, reset
  through ``/proc/self/clear_refs``) minus its resident set before the build, i.e. what building
  and running the step adds to the process
  (weights, gradients, optimizer state, activations, allocator slack). Linux only; ``-`` where
  ``/proc`` does not allow it.

Every measurement runs ``--warmup`` untimed iterations first; times are medians over
``--iters`` iterations, with ``torch.cuda.synchronize`` around each timed call on CUDA.
Several configs are measured in one run, side by side, with ratios to the first one.
``--shape config`` gives each config its own test-time input size (the last ``CenterCrop`` /
``Resize`` of its test pipeline, e.g. 112 for PCDA and 224 for POSTER++), so models fed at
different resolutions are compared as they are used; the size is a column of the table.

**The suite** (``--suite``) measures every method of :data:`SUITE_METHODS` (or ``--methods``:
names or config paths, each optionally ``:SIZE`` / ``:HxW``) in each of ``--settings``
(:data:`SETTINGS`; default ``official best``): ``official`` is the original code's way (fp32,
NCHW, eager); ``best`` is mmfer's best exact setting (channels_last; + compile with freezing for inference;
+ the fused optimizer step, and compile with ``--compile-train``, for training).
Per method, the settings are timed interleaved — ``--rounds`` rounds, each running every setting
for ``--iters`` calls — and each setting's ratio to the first one is the median over the rounds
of the per-round ratio of median call times, so slow drifts of a shared machine cancel. The
data pipeline is not part of it (random batches already on the device);
``tools/analysis/benchmark_pipeline.py`` times that side. ``--quick`` is the CPU-sized run
(input 112 unless a method says ``:SIZE``, 2 rounds × 2 calls, 1 warmup). ``--out`` writes the
markdown table (``.md``) and / or every number (``.json``).
"""
import argparse
import copy
import gc
import json
import os
import os.path as osp
import platform
import statistics
import sys
import time
from typing import Dict, List, NamedTuple, Optional

from mmengine.config import DictAction

# torch / numpy are imported where used, so that `--help` stays fast

#: the method configs of the suite (``--methods`` picks among them by name)
SUITE_METHODS = {
    'baseline': 'configs/baseline/r18_rafdb.py',
    'dan': 'configs/dan/dan_r18_rafdb.py',
    'qcs': 'configs/qcs/qcs_rafdb.py',
    'dcs': 'configs/qcs/dcs_rafdb.py',
    'poster_base': 'configs/qcs/poster_base_rafdb.py',
    'pcda': 'configs/pcda/pcda_ir50_rafdb.py',
    'lan': 'configs/lan/lan_r18_rafdb.py',
    'dacfer': 'configs/dacfer/dacfer_se50_rafdb.py',
}


class Setting(NamedTuple):
    """One way of running a model: memory format, compilation, precision."""
    name: str
    channels_last: bool = False
    compile: bool = False  # test_step; train_step too only with --compile-train
    amp: Optional[str] = None
    freeze: bool = False  # inference compile with inductor freezing (never for training)
    fused: bool = False  # training: the optimizer built with fused=True (fused_optimizer)


#: the suite's settings. ``official``: what the original repositories do (fp32, NCHW, eager);
#: ``best``: mmfer's fastest setting that keeps the numbers (channels_last, + compile with
#: inductor freezing for inference: within the exact tolerance, but a cold start of tens of
#: seconds and slower at batch 1; training: channels_last and the fused optimizer step — the
#: loop's update within ~1 float32 ulp — and compile with --compile-train)
SETTINGS = {
    'official': Setting('official'),
    'channels_last': Setting('channels_last', channels_last=True),
    'compile': Setting('compile', compile=True),
    'best': Setting('best', channels_last=True, compile=True, freeze=True, fused=True),
    'fused': Setting('fused', fused=True),
    'bf16': Setting('bf16', amp='bf16'),
    'bf16_channels_last': Setting('bf16_channels_last', channels_last=True, amp='bf16'),
    'fp16': Setting('fp16', amp='fp16'),
    'fp16_channels_last': Setting('fp16_channels_last', channels_last=True, amp='fp16'),
}
#: options that must not change the numbers (the tolerance of the "exact" column)
EXACT_TOL = 1e-5


def parse_args(argv: Optional[List[str]] = None):
    from mmfer.utils.performance import add_performance_args
    parser = argparse.ArgumentParser(
        description='Benchmark inference latency/throughput and training-step throughput of '
                    'one or more configs on random data, with the performance options; '
                    '--suite runs every method in the official-style and the best settings.')
    parser.add_argument('configs', nargs='*', help='config file(s); ratios are to the first')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--batch-size', type=int, default=None,
                        help='images per inference call (default 1: latency; 32 in --suite)')
    parser.add_argument('--train', action='store_true',
                        help='also time training steps (always on in --suite)')
    parser.add_argument('--train-batch-size', type=int, default=16,
                        help='samples per training step (default 16)')
    parser.add_argument('--shape', nargs='+', default=None,
                        help="input size: one int (square), H W, or 'config' (each config's "
                             "test-pipeline size). Default 224; 'config' in --suite "
                             '(112 with --quick)')
    parser.add_argument('--warmup', type=int, default=None,
                        help='untimed iterations (default 5; 1 in --suite)')
    parser.add_argument('--iters', type=int, default=None,
                        help='timed iterations (default 20; per round in --suite: 3, '
                             '2 with --quick)')
    parser.add_argument('--num-threads', type=int, default=None,
                        help='torch.set_num_threads (CPU intra-op threads)')
    parser.add_argument('--label-fields', nargs='+', default=[],
                        help='extra per-sample label fields the model\'s training step reads, '
                             'filled with random labels (e.g. neg_label for QCS); added to '
                             'those a model lists in its `train_label_fields` attribute')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random data')
    parser.add_argument('--no-memory', action='store_true',
                        help='skip the peak-memory measurement (on CPU one fresh child '
                             'process per row)')
    parser.add_argument('--out', nargs='+', default=[],
                        help='write results to .json and/or .md file(s); with --suite also '
                        '.png (bar chart of the ratios to the first setting)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override entries of every config')
    add_performance_args(parser, train=True)
    suite = parser.add_argument_group('suite')
    suite.add_argument('--suite', action='store_true',
                       help='every method (--methods) in every --settings, interleaved')
    suite.add_argument('--methods', nargs='+', default=None,
                       help=f'suite methods: names ({", ".join(SUITE_METHODS)}) or config '
                            "paths, each optionally ':SIZE' or ':HxW' (e.g. dan:224). "
                            'Default all')
    suite.add_argument('--settings', nargs='+', default=['official', 'best'],
                       choices=list(SETTINGS),
                       help='suite settings; ratios are to the first (default official best)')
    suite.add_argument('--rounds', type=int, default=None,
                       help='interleaved rounds per method (default 3; 2 with --quick)')
    suite.add_argument('--quick', action='store_true',
                       help='CPU-sized suite: input 112 unless a method gives :SIZE, 2 rounds '
                            'x 2 calls, 1 warmup')
    suite.add_argument('--compile-train', action='store_true',
                       help='also compile train_step in the compile settings (default: '
                            'compile is an inference option in the suite)')
    suite.add_argument('--no-train', action='store_true',
                       help='suite: inference only')
    args = parser.parse_args(argv)
    if not args.suite and not args.configs:
        parser.error('give CONFIG(s) or --suite')
    if args.suite and args.configs:
        parser.error('--suite takes its configs from --methods, not as positional arguments')
    if args.suite and any(o is not None for o in (args.channels_last, args.compile, args.amp,
                                                  args.fused_optimizer)):
        parser.error('--suite sets channels_last / compile / amp / the fused optimizer per '
                     '--settings; do not give --channels-last / --compile / --amp / '
                     '--fused-optim with it')
    quick = args.suite and args.quick
    defaults = dict(batch_size=32 if args.suite else 1, warmup=1 if args.suite else 5,
                    iters=(2 if quick else 3) if args.suite else 20,
                    rounds=2 if quick else 3)
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    shape = args.shape or (['112'] if quick else ['config'] if args.suite else ['224'])
    args.shape = parse_shape(shape, parser.error)
    if args.iters < 1 or args.warmup < 0 or args.rounds < 1:
        parser.error('--iters and --rounds must be >= 1 and --warmup >= 0')
    if args.batch_size < 1 or args.train_batch_size < 1:
        parser.error('--batch-size and --train-batch-size must be >= 1')
    for path in args.out:
        if not path.endswith(('.json', '.md', '.png')):
            parser.error(f'--out must end with .json, .md or .png, got {path}')
        if path.endswith('.png') and not args.suite:
            parser.error('--out *.png (the ratio chart) is for --suite only')
    if args.suite:
        try:
            args.method_specs = parse_methods(args.methods)
        except ValueError as e:
            parser.error(str(e))
    if args.device == 'cuda':
        import torch
        if not torch.cuda.is_available():
            parser.error('--device cuda requested but torch.cuda.is_available() is False')
    if args.device == 'cpu':
        settings = [SETTINGS[s] for s in args.settings] if args.suite else []
        if args.amp == 'fp16' or any(s.amp == 'fp16' for s in settings):
            from mmfer.utils.performance import check_amp
            try:
                check_amp('cpu', 'fp16')
            except ValueError as e:
                parser.error(str(e))
    return args


def parse_shape(values, error=None):
    """``[H, W]`` from ``['224']`` / ``['112', '96']``; ``None`` for ``['config']`` (each
    config's test-pipeline size)."""
    def fail(msg):
        if error is None:
            raise ValueError(msg)
        error(msg)
    if list(values) == ['config']:
        return None
    try:
        shape = [int(v) for v in values]
    except ValueError:
        return fail(f"--shape takes 1 or 2 integers (H [W]) or 'config', got {list(values)}")
    if len(shape) == 1:
        shape = shape * 2
    if len(shape) != 2 or min(shape) < 1:
        return fail(f'--shape takes 1 or 2 positive integers (H [W]), got {list(values)}')
    return shape


def parse_methods(methods: Optional[List[str]]) -> List[dict]:
    """``[dict(name, config, shape)]`` of ``--methods``: each entry a name of
    :data:`SUITE_METHODS` or a config path, optionally followed by ``:SIZE`` or ``:HxW``
    (``shape`` None: the suite's ``--shape``)."""
    out = []
    for spec in methods or list(SUITE_METHODS):
        name, _, size = spec.partition(':')
        shape = None
        if size:
            try:
                shape = [int(v) for v in size.lower().split('x')]
            except ValueError:
                raise ValueError(f'--methods {spec}: the size after ":" must be SIZE or HxW')
            shape = shape * 2 if len(shape) == 1 else shape
            if len(shape) != 2:
                raise ValueError(f'--methods {spec}: the size after ":" must be SIZE or HxW')
        if name in SUITE_METHODS:
            config = SUITE_METHODS[name]
        elif name.endswith('.py'):
            config, name = name, osp.splitext(osp.basename(name))[0]
        else:
            raise ValueError(f'--methods {spec}: not a suite method ({", ".join(SUITE_METHODS)}) '
                             'nor a config path (*.py)')
        out.append(dict(name=name, config=config, shape=shape))
    return out


def num_classes_of(model) -> int:
    """Number of classes of a classifier (``num_classes`` of the model, its head or its
    data preprocessor)."""
    for obj in (model, getattr(model, 'head', None), getattr(model, 'data_preprocessor', None)):
        n = getattr(obj, 'num_classes', None) if obj is not None else None
        if isinstance(n, int) and n > 0:
            return n
    raise AttributeError(f'{type(model).__name__}: cannot tell the number of classes (no '
                         f'num_classes on the model, its head or its data_preprocessor)')


def num_views_of(model) -> int:
    """Views per training sample: the model's ``num_branches`` (QCS) or ``num_views``
    (MultiViewClassifier, e.g. DacFER) attribute, else 1."""
    v = getattr(model, 'num_branches', getattr(model, 'num_views', 1))
    return int(v) if v else 1


def random_batch(model, batch_size: int, shape, num_views: int = 1, device='cpu',
                 seed: int = 0, label_fields=(), map_shapes: Optional[Dict[str, tuple]] = None
                 ) -> dict:
    """A batch as a dataloader delivers it: ``inputs`` uint8 N×3×H×W (or N×V×3×H×W for
    ``num_views`` > 1) and ``data_samples`` with random ``gt_label`` in [0, num_classes), plus
    every field of ``label_fields`` as a random 1-element long tensor in the same range — or,
    for a field in ``map_shapes``, a random binary float map of that per-sample shape (e.g.
    LAN's ``guidance_map``, 1×7×7)."""
    import torch
    from mmpretrain.structures import DataSample
    map_shapes = map_shapes or {}
    gen = torch.Generator().manual_seed(seed)
    size = (batch_size, ) + ((num_views, ) if num_views > 1 else ()) + (3, ) + tuple(shape)
    inputs = torch.randint(0, 256, size, generator=gen, dtype=torch.uint8).to(device)
    num_classes = num_classes_of(model)
    labels = torch.randint(0, num_classes, (batch_size, ), generator=gen)
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    for name in label_fields:
        if name in map_shapes:
            extra = torch.randint(0, 2, (batch_size, ) + tuple(map_shapes[name]),
                                  generator=gen).float()
        else:
            extra = torch.randint(0, num_classes, (batch_size, 1), generator=gen).long()
        for ds, y in zip(samples, extra):
            ds.set_field(y, name)
    return dict(inputs=inputs, data_samples=samples)


def map_field_shapes(model, fields, shape, device='cpu') -> Dict[str, tuple]:
    """Per-sample shapes of the ``*_map`` target fields among ``fields``: for each, the shape
    of the tensor that a loss of ``model`` declaring it in ``target_fields`` consumes
    (``consumes[0]``), read from one eval forward of ``extract_feat`` on a 1-image batch."""
    import torch
    wanted = [f for f in fields if f.endswith('_map')]
    if not wanted:
        return {}
    consumer = {}
    for module in model.modules():
        for field in getattr(module, 'target_fields', ()) or ():
            if field in wanted and getattr(module, 'consumes', None):
                consumer.setdefault(field, module.consumes[0])
    missing = [f for f in wanted if f not in consumer]
    if missing:
        raise KeyError(f'{type(model).__name__}: no loss declares {missing} in its target_fields; '
                       'cannot tell the shape of the map to fill')
    was_training = model.training
    model.eval()
    with torch.no_grad():
        data = random_batch(model, 1, shape, 1, device)
        feats = model.extract_feat(model.data_preprocessor(data, False)['inputs'])
    model.train(was_training)
    out = {}
    for field, key in consumer.items():
        if key not in feats:
            raise KeyError(f'{field}: its loss consumes {key!r}, which extract_feat does not '
                           f'return (it returns {sorted(feats)})')
        out[field] = tuple(feats[key].shape[1:])
    return out


def config_input_shape(cfg) -> list:
    """[H, W] a config's test pipeline feeds the model (``test_dataloader``, else
    ``val_dataloader``): :func:`mmfer.apis.fer_inferencer.pipeline_input_size`, the size
    ``FERInferencer`` crops faces to."""
    from mmfer.apis.fer_inferencer import pipeline_input_size
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    size = pipeline_input_size((loader.get('dataset') or {}).get('pipeline'))
    if size is None:
        raise KeyError(f'{cfg.filename}: no CenterCrop / Resize in the test pipeline to take the '
                       'input size from; give --shape H W')
    return list(size)


def train_label_fields(model, extra=()) -> list:
    """Label fields a training step reads besides ``gt_label``: the model's
    ``train_label_fields`` attribute (if any) and ``extra`` (``--label-fields``)."""
    fields = list(getattr(model, 'train_label_fields', ()) or ())
    return fields + [f for f in extra if f not in fields]


# ----------------------------------------------------------------------------------------------
# settings applied to a model
def setting_from_args(args, cfg) -> Setting:
    """The :class:`Setting` of the performance switches for a config (``None``: the config's
    ``channels_last`` / ``compile`` / ``amp`` keys, else off)."""
    from mmfer.utils.performance import parse_amp
    cl = args.channels_last if args.channels_last is not None else cfg.get('channels_last', False)
    comp = args.compile if args.compile is not None else cfg.get('compile', False)
    amp = args.amp if args.amp is not None else cfg.get('amp', None)
    if amp is True:  # a bare --amp
        amp = 'fp16' if args.device == 'cuda' else 'bf16'
    fused = (args.fused_optimizer if args.fused_optimizer is not None else
             cfg.get('fused_optimizer', False))
    name = '+'.join([n for n, on in (('channels_last', cl), ('compile', comp)) if on] +
                    ([parse_amp(amp)] if parse_amp(amp) else []) +
                    (['fused_optim'] if fused else [])) or 'fp32 NCHW eager'
    return Setting(name, bool(cl), bool(comp), parse_amp(amp), fused=bool(fused))


def compile_kwargs(args) -> dict:
    """``torch.compile`` keyword arguments of ``--compile [MODE]``."""
    return dict(mode=args.compile) if isinstance(getattr(args, 'compile', None), str) else {}


def train_setting(setting: Setting, compile_train: bool) -> Setting:
    """The options ``setting`` trains with: no freezing, compile only with --compile-train."""
    return setting._replace(freeze=False, compile=setting.compile and compile_train)


def prepare_model(model, setting: Setting, phase: str, compile_train: bool = True,
                  compile_kw: Optional[dict] = None, report=None):
    """Apply ``setting`` to ``model`` in place (``phase``: ``'inference'`` or ``'train'``):
    channels_last weights (:func:`~mmfer.utils.performance.to_channels_last`) and
    ``torch.compile`` of ``test_step`` / ``train_step`` as ``FERRunner`` does it (the method
    replaced by the compiled one; ``report(seconds)`` receives the first call's time)."""
    from mmfer.utils.performance import (FREEZE_MODE, TimedFirstCall, compile_model,
                                         to_channels_last)
    if setting.channels_last:
        to_channels_last(model)
    target = 'test_step' if phase == 'inference' else 'train_step'
    if setting.compile and (phase == 'inference' or compile_train):
        kw = dict(compile_kw or {})
        if phase == 'inference' and setting.freeze:
            kw['freeze'] = True
        elif phase == 'train' and kw.get('mode') == FREEZE_MODE:
            kw.pop('mode')  # freezing is for inference (the weights change)
        fn = compile_model(getattr(model, target), **kw)
        setattr(model, target, TimedFirstCall(fn, report) if report else fn)
    return model


def setting_batch(data: dict, setting: Setting) -> dict:
    """``data`` with its 4-D inputs in channels_last when the setting is (a loader whose
    batches are NHWC); multi-view N×V×3×H×W inputs stay as they are (the weights carry the
    format: PyTorch picks NHWC kernels when the weight is channels_last)."""
    from mmfer.utils.performance import channels_last_input
    if not setting.channels_last:
        return data
    return dict(data, inputs=channels_last_input(data['inputs']))


def setting_optim_wrapper(model, cfg, setting: Setting):
    """The config's optim wrapper for ``model``; under ``amp`` its AMP form
    (:func:`~mmfer.utils.performance.amp_optim_wrapper_cfg`, as ``tools/train.py --amp``),
    with ``fused`` its optimizer built with ``fused=True``
    (:func:`~mmfer.utils.performance.fused_optimizer_cfg`, as ``--fused-optim``)."""
    from mmengine.optim import build_optim_wrapper

    from mmfer.utils.performance import amp_optim_wrapper_cfg, fused_optimizer_cfg
    if 'optim_wrapper' not in cfg:
        raise KeyError(f'{cfg.filename}: training needs an `optim_wrapper` entry in the config')
    ow = copy.deepcopy(cfg.optim_wrapper)
    if setting.amp:
        ow = amp_optim_wrapper_cfg(ow, setting.amp)
    if setting.fused:
        ow = fused_optimizer_cfg(ow)
    return build_optim_wrapper(model, ow)


def infer_fn(model, data, setting: Setting, device: str):
    """``() -> list of DataSample``: one ``test_step`` under no_grad and the setting's
    autocast."""
    import torch

    from mmfer.utils.performance import autocast_context

    def run():
        with torch.no_grad(), autocast_context(device, setting.amp):
            return model.test_step(data)
    return run


def log_scores(samples) -> 'torch.Tensor':
    """N×C float64 log-softmax scores of ``test_step``'s data samples."""
    import torch
    return torch.stack([ds.pred_score.detach().double().cpu() for ds in samples]).clamp_min(
        1e-300).log()


def _timed(fn, warmup: int, iters: int, device: str) -> List[float]:
    """Seconds per call of ``fn`` for ``iters`` calls after ``warmup`` untimed ones."""
    import torch
    cuda = device == 'cuda'
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


def _first_call(fn, device: str) -> float:
    """Seconds of one call (the cold start of a compiled function)."""
    import torch
    t0 = time.perf_counter()
    fn()
    if device == 'cuda':
        torch.cuda.synchronize()
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------------------------
# peak memory
def _proc_status_kib(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    raise KeyError(key)


def cpu_peak_memory_mib(work) -> Optional[float]:
    """MiB that ``work()`` adds to the peak resident set of this process: the high-water mark
    is reset (``echo 5 > /proc/self/clear_refs``), ``VmRSS`` read, ``work()`` run and
    ``VmHWM`` − that returned. ``None`` where it cannot be measured (no /proc, the reset
    refused, ``work`` raised — the error is printed). Memory that ``work`` takes from heap pages
    the process had freed but still holds resident is not counted (it does not raise the
    resident set): exact in a fresh process, which is where :func:`measure_memory` runs it."""
    if not osp.exists('/proc/self/clear_refs'):
        return None
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        base = _proc_status_kib('VmRSS')
        work()
        return (_proc_status_kib('VmHWM') - base) / 1024
    except Exception as e:  # noqa: B902  a figure of the table, never the run's end
        sys.stderr.write(f'[benchmark] memory measurement failed: {type(e).__name__}: {e}\n')
        return None


MEMORY_CHILD_FLAG = '--memory-child'


def _memory_child(spec_path: str) -> None:
    """The fresh process of :func:`measure_memory`: build, apply the setting, two calls; print
    the MiB (or null) as the last stdout line."""
    with open(spec_path) as f:
        spec = json.load(f)
    import torch
    from mmengine.config import Config
    if spec['num_threads']:
        torch.set_num_threads(spec['num_threads'])
    cfg = Config.fromfile(spec['config'])
    setting = Setting(**spec['setting'])
    phase, batch_size, shape, seed = (spec['phase'], spec['batch_size'], tuple(spec['shape']),
                                      spec['seed'])

    def work():
        from mmfer.apis import build_model
        torch.manual_seed(seed)
        model = build_model(cfg, 'cpu')
        prepare_model(model, setting, phase)
        if phase == 'inference':
            data = setting_batch(random_batch(model, batch_size, shape, 1, 'cpu', seed),
                                 setting)
            model.eval()
            fn = infer_fn(model, data, setting, 'cpu')
        else:
            fields = train_label_fields(model, spec['label_fields'])
            data = setting_batch(random_batch(
                model, batch_size, shape, num_views_of(model), 'cpu', seed, fields,
                map_field_shapes(model, fields, shape)), setting)
            ow = setting_optim_wrapper(model, cfg, setting)
            model.train()

            def fn():
                model.train_step(data, ow)
        fn()
        fn()
    print(json.dumps(cpu_peak_memory_mib(work)), flush=True)


def cuda_peak_memory_mib(fn) -> float:
    """``torch.cuda.max_memory_allocated`` (MiB) over one call of ``fn`` after a reset."""
    import torch
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() / 2**20


def measure_memory(cfg, setting: Setting, phase: str, batch_size: int, shape, args,
                   run=None, timeout: float = 900.) -> Optional[float]:
    """Peak memory (MiB) of one ``phase`` step of ``cfg`` in ``setting``: on CUDA over one
    call of ``run`` (the already warm step); on CPU in a fresh Python process (this script with
    ``--memory-child``) that builds the model, applies the setting (without compile) and runs
    two steps (:func:`cpu_peak_memory_mib`). A fresh process rather than a fork: after a
    backward pass (and under compile) torch refuses autograd in a forked child, and a fork
    would inherit the parent's freed-but-resident heap. ``None`` (and the reason on stderr)
    where it fails or runs past ``timeout`` seconds."""
    if args.no_memory:
        return None
    if args.device == 'cuda':
        return cuda_peak_memory_mib(run)
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory(prefix='mmfer_mem_') as tmp:
        cfg_path = osp.join(tmp, 'config.py')
        cfg.dump(cfg_path)
        spec_path = osp.join(tmp, 'spec.json')
        with open(spec_path, 'w') as f:
            json.dump(dict(config=cfg_path, setting=setting._replace(compile=False)._asdict(),
                           phase=phase, batch_size=batch_size, shape=list(shape),
                           seed=args.seed, label_fields=list(args.label_fields or ()),
                           num_threads=args.num_threads), f)
        try:
            proc = subprocess.run([sys.executable, osp.abspath(__file__), MEMORY_CHILD_FLAG,
                                   spec_path], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            sys.stderr.write(f'[benchmark] memory child ran past {timeout:.0f} s\n')
            return None
    lines = proc.stdout.strip().splitlines()
    value = json.loads(lines[-1]) if proc.returncode == 0 and lines else None
    if value is None:  # the child's own report (or traceback) says why
        sys.stderr.write(f'[benchmark] memory child gave no figure (rc {proc.returncode}):\n'
                         f'{proc.stderr[-2000:]}\n')
        return None
    return float(value)


# ----------------------------------------------------------------------------------------------
# one config (the positional-configs mode)
def benchmark_inference(model, batch_size: int, shape, warmup: int, iters: int,
                        device: str = 'cpu', seed: int = 0,
                        setting: Optional[Setting] = None) -> dict:
    """Latency (ms/img, median and p90), throughput (img/s) and first-call seconds of
    ``model.test_step`` (already prepared for ``setting``)."""
    import numpy as np
    setting = setting or Setting('fp32 NCHW eager')
    data = setting_batch(random_batch(model, batch_size, shape, 1, device, seed), setting)
    model.eval()
    fn = infer_fn(model, data, setting, device)
    first = _first_call(fn, device)
    times = _timed(fn, max(warmup - 1, 0), iters, device)
    per_img = np.array(times) / batch_size * 1e3
    med = statistics.median(times)
    return dict(batch_size=batch_size, iters=iters, warmup=warmup, first_call_s=first,
                latency_ms_median=float(np.median(per_img)),
                latency_ms_p90=float(np.percentile(per_img, 90)),
                throughput_img_s=batch_size / med)


def train_batch(model, batch_size: int, shape, device: str, seed: int, label_fields=()):
    """The random training batch of ``model`` (views, label and map fields)."""
    fields = train_label_fields(model, label_fields)
    return random_batch(model, batch_size, shape, num_views_of(model), device, seed, fields,
                        map_field_shapes(model, fields, shape, device))


def benchmark_train(model, optim_wrapper, batch_size: int, shape, warmup: int, iters: int,
                    device: str = 'cpu', seed: int = 0, label_fields=(),
                    setting: Optional[Setting] = None) -> dict:
    """Samples/s of full optimizer steps ``model.train_step(data, optim_wrapper)``."""
    import numpy as np
    setting = setting or Setting('fp32 NCHW eager')
    views = num_views_of(model)
    data = setting_batch(train_batch(model, batch_size, shape, device, seed, label_fields),
                         setting)
    model.train()
    fn = lambda: model.train_step(data, optim_wrapper)  # noqa: E731
    first = _first_call(fn, device)
    times = _timed(fn, max(warmup - 1, 0), iters, device)
    med = statistics.median(times)
    return dict(batch_size=batch_size, num_views=views, iters=iters, warmup=warmup,
                first_call_s=first,
                step_ms_median=med * 1e3, step_ms_p90=float(np.percentile(times, 90)) * 1e3,
                throughput_samples_s=batch_size / med,
                throughput_img_s=batch_size * views / med)


def logit_difference(model, reference_scores, batch_size, shape, setting, device, seed) -> float:
    """max |Δ log p| of ``model``'s ``test_step`` (prepared for ``setting``) against
    ``reference_scores`` (:func:`log_scores` of fp32 NCHW eager) on the same batch."""
    data = setting_batch(random_batch(model, batch_size, shape, 1, device, seed), setting)
    model.eval()
    scores = log_scores(infer_fn(model, data, setting, device)())
    return float((scores - reference_scores).abs().max())


def benchmark_config(config: str, args) -> dict:
    import torch

    from mmfer.apis import build_model
    from mmfer.utils.flops import count_model_flops, load_config
    cfg = load_config(config, args.cfg_options)
    setting = setting_from_args(args, cfg)
    torch.manual_seed(args.seed)
    model = build_model(cfg, args.device)
    shape = list(args.shape) if args.shape else config_input_shape(cfg)
    # parameters read by the inference forward and its MACs per image (get_flops' numbers)
    counted = count_model_flops(model, (3, ) + tuple(shape), device=args.device)
    res = dict(config=config, model=type(model).__name__, shape=shape, setting=setting._asdict(),
               params=counted.params['inference'], params_model=counted.params['model'],
               macs=counted.macs)
    # the fp32 NCHW eager scores of the same weights, before the options touch the model
    model.eval()
    ref = log_scores(infer_fn(model, random_batch(model, args.batch_size, shape, 1,
                                                  args.device, args.seed),
                              Setting('ref'), args.device)())
    train_model = copy.deepcopy(model) if args.train else None
    prepare_model(model, setting, 'inference', compile_kw=compile_kwargs(args))
    res['inference'] = benchmark_inference(model, args.batch_size, shape, args.warmup,
                                           args.iters, args.device, args.seed, setting)
    res['inference']['max_logp_diff'] = logit_difference(model, ref, args.batch_size, shape,
                                                         setting, args.device, args.seed)
    data = setting_batch(random_batch(model, args.batch_size, shape, 1, args.device, args.seed),
                         setting)
    res['inference']['peak_mib'] = measure_memory(
        cfg, setting, 'inference', args.batch_size, shape, args,
        infer_fn(model, data, setting, args.device))
    if setting.compile:
        print(f'[benchmark] {config}: compile cold start (first test_step call) '
              f'{res["inference"]["first_call_s"]:.1f} s')
    del model
    if args.train:
        model = prepare_model(train_model, setting, 'train', compile_kw=compile_kwargs(args))
        optim_wrapper = setting_optim_wrapper(model, cfg, setting)
        res['train'] = benchmark_train(model, optim_wrapper, args.train_batch_size, shape,
                                       args.warmup, args.iters, args.device, args.seed,
                                       args.label_fields, setting)
        tdata = setting_batch(train_batch(model, args.train_batch_size, shape, args.device,
                                          args.seed, args.label_fields), setting)
        res['train']['peak_mib'] = measure_memory(
            cfg, setting, 'train', args.train_batch_size, shape, args,
            lambda: model.train_step(tdata, optim_wrapper))
        if setting.compile:
            print(f'[benchmark] {config}: compile cold start (first train_step call) '
                  f'{res["train"]["first_call_s"]:.1f} s')
    return res


def add_ratios(results: List[dict]) -> None:
    """Ratios of each config's throughput / latency to those of the first config."""
    ref = results[0]
    for r in results:
        r['inference']['throughput_ratio'] = (r['inference']['throughput_img_s'] /
                                              ref['inference']['throughput_img_s'])
        r['inference']['latency_ratio'] = (r['inference']['latency_ms_median'] /
                                           ref['inference']['latency_ms_median'])
        if 'train' in r and 'train' in ref:
            r['train']['throughput_ratio'] = (r['train']['throughput_samples_s'] /
                                              ref['train']['throughput_samples_s'])


def environment(args) -> dict:
    import torch
    env = dict(torch=torch.__version__, device=args.device, num_threads=torch.get_num_threads(),
               cpu=platform.processor() or platform.machine(),
               shape=list(args.shape) if args.shape else 'config')
    if args.device == 'cuda':
        env['gpu'] = torch.cuda.get_device_name(0)
    return env


def _rate(v: float) -> str:
    return f'{v:.1f}' if v >= 10 else f'{v:.3f}'


def _mib(v) -> str:
    return '-' if v is None else f'{v:.0f}'


def to_markdown(results: List[dict], env: dict) -> str:
    head = ['config', 'setting', 'input', 'params', 'GMACs', 'ms/img (median)', 'ms/img (p90)',
            'img/s', 'x first', 'max abs dlogp', 'peak MiB']
    has_train = any('train' in r for r in results)
    if has_train:
        head += ['train samples/s', 'train img/s', 'x first (train)', 'train peak MiB']
    lines = [
        f'device: {env["device"]} ({env.get("gpu", env["cpu"])}), torch {env["torch"]}, '
        f'threads {env["num_threads"]}, input '
        + (f'{env["shape"][0]}x{env["shape"][1]}' if env['shape'] != 'config' else
           "per config (its test pipeline)") + ', '
        f'inference batch {results[0]["inference"]["batch_size"]}'
        + (f', train batch {results[0]["train"]["batch_size"]}' if has_train else ''),
        '',
        '| ' + ' | '.join(head) + ' |',
        '|' + '|'.join(['---', '---'] + ['---:'] * (len(head) - 2)) + '|',
    ]
    for r in results:
        i = r['inference']
        cells = [r['config'], r['setting']['name'], f'{r["shape"][0]}x{r["shape"][1]}',
                 f'{r["params"]:,}', f'{r["macs"] / 1e9:.3f}', f'{i["latency_ms_median"]:.2f}',
                 f'{i["latency_ms_p90"]:.2f}', _rate(i['throughput_img_s']),
                 f'{i["throughput_ratio"]:.2f}', f'{i["max_logp_diff"]:.1e}',
                 _mib(i.get('peak_mib'))]
        if has_train:
            t = r.get('train')
            cells += ([_rate(t['throughput_samples_s']), _rate(t['throughput_img_s']),
                       f'{t["throughput_ratio"]:.2f}', _mib(t.get('peak_mib'))]
                      if t else ['-'] * 4)
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


# ----------------------------------------------------------------------------------------------
# the suite
def _interleaved(fns: Dict[str, callable], rounds: int, iters: int, device: str) -> dict:
    """Run every ``fns[name]`` for ``iters`` calls per round, ``rounds`` rounds, in turn.
    Returns ``{name: dict(times=[...], ratio=..., round_ratios=[...])}``, ``round_ratios`` =
    per round, median call time of the first name / median call time of this one, ``ratio``
    = their median (the JSON of ``--out`` keeps both, for the spread)."""
    names = list(fns)
    per_round = {n: [] for n in names}
    times = {n: [] for n in names}
    for _ in range(rounds):
        for n in names:
            t = _timed(fns[n], 0, iters, device)
            times[n] += t
            per_round[n].append(statistics.median(t))
    ref = per_round[names[0]]
    out = {}
    for n in names:
        ratios = [a / b for a, b in zip(ref, per_round[n])]
        out[n] = dict(times=times[n], ratio=statistics.median(ratios), round_ratios=ratios)
    return out


def suite_method(spec: dict, settings: List[Setting], args) -> List[dict]:
    """Every setting of one method: inference and training, interleaved per phase."""
    import torch

    from mmfer.apis import build_model
    from mmfer.utils.flops import count_model_flops, load_config
    cfg = load_config(spec['config'], args.cfg_options)
    shape = spec['shape'] or (list(args.shape) if args.shape else config_input_shape(cfg))
    torch.manual_seed(args.seed)
    base = build_model(cfg, args.device)
    counted = count_model_flops(base, (3, ) + tuple(shape), device=args.device)
    rows = [dict(method=spec['name'], config=spec['config'], model=type(base).__name__,
                 shape=shape, setting=s.name, options=s._asdict(),
                 params=counted.params['inference'], macs=counted.macs) for s in settings]
    kw = compile_kwargs(args)
    bs, tbs = args.batch_size, args.train_batch_size
    dev = args.device
    # inference
    base.eval()
    ref = log_scores(infer_fn(base, random_batch(base, bs, shape, 1, dev, args.seed),
                              Setting('ref'), dev)())
    fns = {}
    for row, s in zip(rows, settings):
        model = prepare_model(copy.deepcopy(base), s, 'inference', compile_kw=kw)
        model.eval()
        fn = infer_fn(model, setting_batch(random_batch(model, bs, shape, 1, dev, args.seed), s),
                      s, dev)
        row['infer_first_call_s'] = _first_call(fn, dev)
        if s.compile:
            print(f'[suite] {spec["name"]} {s.name}: compile cold start (first test_step, '
                  f'batch {bs}) {row["infer_first_call_s"]:.1f} s', flush=True)
        _timed(fn, max(args.warmup - 1, 0), 0, dev)
        row['max_logp_diff'] = float((log_scores(fn()) - ref).abs().max())
        row['exact'] = row['max_logp_diff'] <= EXACT_TOL
        fns[s.name] = fn
    measured = _interleaved(fns, args.rounds, args.iters, dev)
    for row, s in zip(rows, settings):
        t = measured[s.name]
        row.update(infer_batch=bs, infer_img_s=bs / statistics.median(t['times']),
                   infer_ratio=t['ratio'], infer_times_s=t['times'],
                   infer_round_ratios=t['round_ratios'],
                   infer_peak_mib=measure_memory(cfg, s, 'inference', bs, shape, args,
                                                 fns[s.name]))
    del fns
    gc.collect()
    # training
    if not args.no_train:
        fns, same = {}, {}
        for row, s in zip(rows, settings):
            ts = train_setting(s, args.compile_train)
            # a setting whose training options equal an earlier one's (best = channels_last
            # when compile is inference-only) shares that row's training figures
            key = ts._replace(name='')
            if key in same.values():
                same[s.name] = key
                continue
            same[s.name] = key
            model = prepare_model(copy.deepcopy(base), ts, 'train', compile_kw=kw)
            ow = setting_optim_wrapper(model, cfg, ts)
            model.train()
            data = setting_batch(train_batch(model, tbs, shape, dev, args.seed,
                                             args.label_fields), ts)
            fn = (lambda m=model, d=data, o=ow: m.train_step(d, o))
            row['train_first_call_s'] = _first_call(fn, dev)
            _timed(fn, max(args.warmup - 1, 0), 0, dev)
            row['train_options'] = ts._asdict()
            fns[s.name] = fn
        measured = _interleaved(fns, args.rounds, args.iters, dev)
        for row, s in zip(rows, settings):
            if s.name not in fns:  # shares an earlier row's training measurement
                src = next(r for r, s2 in zip(rows, settings)
                           if s2.name in fns and same[s2.name] == same[s.name])
                row.update({k: v for k, v in src.items() if k.startswith('train')},
                           num_views=src['num_views'], train_same_as=src['setting'])
                continue
            t = measured[s.name]
            views = num_views_of(base)
            ts = train_setting(s, args.compile_train)
            row.update(train_batch=tbs, num_views=views,
                       train_samples_s=tbs / statistics.median(t['times']),
                       train_ratio=t['ratio'], train_times_s=t['times'],
                       train_round_ratios=t['round_ratios'],
                       train_peak_mib=measure_memory(cfg, ts, 'train', tbs, shape, args,
                                                     fns[s.name]))
        del fns
    del base
    gc.collect()
    if dev == 'cuda':
        torch.cuda.empty_cache()
    return rows


def suite_markdown(rows: List[dict], env: dict, args) -> str:
    """The suite's table: one row per method and setting."""
    first = args.settings[0]
    train = any('train_samples_s' in r for r in rows)
    head = ['method', 'setting', 'input', f'infer img/s (b{args.batch_size})',
            f'x {first}', 'max abs dlogp', 'exact', 'infer peak MiB', 'first call s']
    if train:
        head += [f'train samples/s (b{args.train_batch_size})', f'x {first} (train)',
                 'train peak MiB']
    mem = ('torch.cuda.max_memory_allocated over one call' if env['device'] == 'cuda' else
           'peak resident-set growth of a fresh process building and running the step, '
           'without compile')
    lines = [
        f'device: {env["device"]} ({env.get("gpu", env["cpu"])}), torch {env["torch"]}, '
        f'threads {env["num_threads"]}; {args.rounds} interleaved rounds x {args.iters} calls '
        f'per setting after {args.warmup} warm-up; ratios: median over rounds of the per-round '
        f'ratio to `{first}`; peak MiB: {mem}; max abs dlogp: largest |difference| of '
        f'log-softmax scores vs fp32 NCHW eager on the same batch; exact: <= {EXACT_TOL:g}',
        '',
        '| ' + ' | '.join(head) + ' |',
        '|' + '|'.join(['---', '---', '---'] + ['---:'] * (len(head) - 3)) + '|',
    ]
    for r in rows:
        if 'error' in r:
            lines.append(f'| {r["method"]} | error: {r["error"][:200]} |' +
                         ' |' * (len(head) - 2))
            continue
        o = r['options']
        desc = r['setting']
        if train and r.get('train_same_as'):
            desc += f' (train: = {r["train_same_as"]})'
        elif train and o['compile'] and not r.get('train_options', o)['compile']:
            desc += ' (train: no compile)'
        cells = [r['method'], desc, f'{r["shape"][0]}x{r["shape"][1]}',
                 _rate(r['infer_img_s']), f'{r["infer_ratio"]:.2f}',
                 f'{r["max_logp_diff"]:.1e}', 'yes' if r['exact'] else 'no',
                 _mib(r['infer_peak_mib']), f'{r["infer_first_call_s"]:.1f}']
        if train:
            cells += ([_rate(r['train_samples_s']), f'{r["train_ratio"]:.2f}',
                       _mib(r['train_peak_mib'])] if 'train_samples_s' in r else ['-'] * 3)
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def _suite_result(rows: List[dict], args) -> dict:
    env = environment(args)
    env.update(rounds=args.rounds, iters=args.iters, warmup=args.warmup,
               batch_size=args.batch_size, train_batch_size=args.train_batch_size,
               settings=args.settings, compile_train=args.compile_train)
    return dict(environment=env, rows=rows, markdown=suite_markdown(rows, env, args))


def run_suite(args) -> dict:
    """Every method of ``args.method_specs`` in every setting. With ``--out``, the files are
    rewritten after each method, so a run stopped part-way (a timeout) keeps the methods it
    finished."""
    settings = [SETTINGS[s] for s in args.settings]
    if args.device == 'cpu' and any(s.compile for s in settings):
        # one compile worker: no process pool competing with the timed threads
        import torch._inductor.config as inductor_config
        inductor_config.compile_threads = 1
    rows = []
    for spec in args.method_specs:
        t0 = time.perf_counter()
        print(f'[suite] {spec["name"]} ({spec["config"]})', flush=True)
        try:
            rows += suite_method(spec, settings, args)
        except Exception as e:  # one method failing must not lose the others' figures
            import traceback
            traceback.print_exc()
            rows.append(dict(method=spec['name'], config=spec['config'],
                             error=f'{type(e).__name__}: {e}'))
        gc.collect()
        print(f'[suite] {spec["name"]} done in {time.perf_counter() - t0:.0f} s', flush=True)
        if spec is not args.method_specs[-1]:
            partial = _suite_result(rows, args)
            for path in args.out or []:
                write_out(path, partial, partial['markdown'])
    return _suite_result(rows, args)


def suite_plot(rows: List[dict], path: str) -> dict:
    """Bar chart of a suite: per phase (inference, training) one group of bars per method, one
    bar per setting, the height its ratio to the first setting (1 = as fast; a dashed line).
    Returns what was drawn: ``{phase: {setting: [ratio per method]}}`` (NaN where a method
    has no figure), methods in the order of ``rows``, and ``'failed'``: the methods that failed,
    which have no bars and are named under the plots (their error is in the table)."""
    import math

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    ok = [r for r in rows if 'error' not in r]
    methods = list(dict.fromkeys(r['method'] for r in ok))
    settings = list(dict.fromkeys(r['setting'] for r in ok))
    phases = [(p, k) for p, k in (('inference', 'infer_ratio'), ('training', 'train_ratio'))
              if any(k in r for r in ok)]
    drawn = {}
    fig, axes = plt.subplots(1, max(1, len(phases)), squeeze=False,
                             figsize=(max(6, 1.2 * len(methods) * len(phases) + 3), 4))
    width = 0.8 / max(1, len(settings))
    for ax, (phase, key) in zip(axes[0], phases):
        drawn[phase] = {}
        for j, setting in enumerate(settings):
            vals = []
            for m in methods:
                r = next((r for r in ok if r['method'] == m and r['setting'] == setting), {})
                vals.append(float(r.get(key, math.nan)))
            drawn[phase][setting] = vals
            ax.bar([i + (j - (len(settings) - 1) / 2) * width for i in range(len(methods))],
                   vals, width, label=setting)
        ax.axhline(1.0, color='k', ls='--', lw=0.8)
        ax.set_xticks(range(len(methods)), methods, rotation=30, ha='right')
        ax.set_title(f'{phase}: x {settings[0]}')
        ax.set_ylabel(f'throughput / {settings[0]}')
    axes[0][-1].legend(fontsize=8)
    failed = drawn['failed'] = [r['method'] for r in rows if 'error' in r]
    if failed:
        fig.text(0.01, 0.01, f'failed, not drawn: {", ".join(failed)} (see the table)',
                 color='red', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return drawn


def write_out(path: str, out: dict, md: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if path.endswith('.png'):
        suite_plot(out['rows'], path)
    else:
        with open(path, 'w') as f:
            if path.endswith('.json'):
                json.dump(out, f, indent=1)
            else:
                f.write(md + '\n')
    print(f'wrote {path}')


def main(argv: Optional[List[str]] = None) -> dict:
    """Run the tool; returns ``dict(environment=..., results=[...])`` (``--suite``:
    ``dict(environment=..., rows=[...], markdown=...)``)."""
    args = parse_args(argv)
    import torch
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    if args.suite:
        out = run_suite(args)
        print(out['markdown'])
        for path in args.out:
            write_out(path, out, out['markdown'])
        failed = [r['method'] for r in out['rows'] if 'error' in r]
        if failed:
            raise SystemExit(f'[suite] failed: {", ".join(failed)} (traceback above; the other '
                             'methods\' figures are in the output)')
        return out
    results = []
    for config in args.configs:
        results.append(benchmark_config(config, args))
        gc.collect()
        if args.device == 'cuda':
            torch.cuda.empty_cache()
    add_ratios(results)
    env = environment(args)
    md = to_markdown(results, env)
    print(md)
    out = dict(environment=env, results=results)
    for path in args.out:
        write_out(path, out, md)
    return out


if __name__ == '__main__':
    if sys.argv[1:2] == [MEMORY_CHILD_FLAG]:
        _memory_child(sys.argv[2])
    else:
        main(sys.argv[1:])
