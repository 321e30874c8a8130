"""``FERRunner``: mmengine's ``Runner`` whose ``load_from`` and ``--resume`` loads are strict.

mmengine 0.10.7's ``Runner.load_checkpoint`` loads with ``strict=False``: a ``load_from`` or
``--resume`` file with missing, extra or mis-shaped tensors loads partially, with one WARNING
line, and training goes on (``resume`` calls the same method). ``FERRunner`` changes only that
comparison; reading, hooks and resuming the optimizer / schedulers / message hub are mmengine's.

- **Reading** goes through mmengine's ``CheckpointLoader``, whose local scheme
  ``import mmfer`` replaces by :func:`mmfer.utils.checkpoint.safe_torch_load` (weights-only with
  mmfer's allow-list, whatever the environment says).
- **``load_from``** must match the model exactly (after stripping ``module.``), except loss
  state (:data:`mmfer.utils.checkpoint.LOSS_STATE_KEYS`, e.g. DAN's affinity centers), which may
  be absent: it is additive and converted official files lack it. Otherwise
  :class:`mmfer.utils.checkpoint.CheckpointMismatchError` lists the keys and names the file.
- **``load_from_partial=dict(skip=[regex, ...])``** (a top-level config key) is the explicit
  opt-in for partial fine-tuning loads: file keys matching a pattern are not loaded, model keys
  matching one keep their initialisation, and every skipped key is logged by name. A pattern
  that matches no key is an error (a typo would otherwise load everything). Example — a new
  8-class head on a 7-class checkpoint::

      load_from = 'work_dirs/dan_r18_rafdb/best.pth'
      load_from_partial = dict(skip=[r'^head\\.fc\\.'])

- **``--resume``** (a path, or auto-resume from ``last_checkpoint``) must be an mmengine
  training checkpoint (``meta.epoch`` / ``meta.iter`` / ``message_hub``) that matches the
  model exactly, loss state included; ``load_from_partial`` does not apply.

The performance options (config keys, :mod:`mmfer.utils.performance`, docs/performance.md):

- ``channels_last = True``: the model's 4-D parameters / buffers are converted to
  ``torch.channels_last`` after the model is built and before mmengine moves it to the device
  and wraps it in DDP (:meth:`FERRunner.wrap_model`), so DDP's buckets, the optimizer and
  loaded checkpoints all see NHWC weights.
- ``compile = True | dict(...)``: mmengine compiles ``train_step``; ``FERRunner`` also compiles
  ``val_step`` / ``test_step``, and logs the wall time of the first call of each (the cold start:
  tracing + code generation + one iteration).
- ``amp = 'bf16' | 'fp16'``: the optim wrapper becomes
  :class:`~mmfer.engine.optimizers.FERAmpOptimWrapper` (SAM configs: its SAM variant) and
  ``val_step`` / ``test_step`` run under autocast, their outputs cast back to float32.

Select it with ``runner_type = 'FERRunner'`` (``configs/_base_/default_runtime.py``);
``tools/train.py`` and ``tools/test.py`` use it for configs that do not name another runner.
"""
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Union

from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

from mmfer.registry import RUNNERS
from mmfer.utils.checkpoint import (LOSS_STATE_KEYS, CheckpointError, check_state_dict,
                                    extract_state_dict)
from mmfer.utils.performance import (FrozenCompiled, TimedFirstCall, amp_optim_wrapper_cfg,
                                     autocast_context, check_amp,
                                     check_not_frozen_for_training, cpu_has_native_bf16,
                                     float_outputs, fused_optimizer_cfg, fused_optimizer_of,
                                     is_frozen_compile, to_channels_last)

__all__ = ['FERRunner', 'parse_partial']

_RESUME_FIX = ('Fix: resume needs a checkpoint this config wrote (epoch_N.pth / '
               'last_checkpoint of the same model); to start training from other weights use '
               'load_from (with load_from_partial=dict(skip=[...]) for the parts that differ).')


def parse_partial(spec) -> List[str]:
    """Validate ``load_from_partial`` and return its ``skip`` patterns (compiled once to check).

    Raises:
        CheckpointError: not ``dict(skip=[regex, ...])`` or an invalid regular expression.
    """
    if spec is None:
        return []
    if not isinstance(spec, dict) or set(spec) - {'skip'} or not isinstance(
            spec.get('skip'), (list, tuple)) or not spec['skip'] or not all(
                isinstance(p, str) for p in spec['skip']):
        raise CheckpointError(
            f'load_from_partial must be dict(skip=[regex, ...]) (a non-empty list of regular '
            f"expressions of state-dict keys, e.g. dict(skip=[r'^head\\.fc\\.'])), got {spec!r}")
    for p in spec['skip']:
        try:
            re.compile(p)
        except re.error as err:
            raise CheckpointError(f'load_from_partial.skip: invalid regular expression {p!r}: '
                                  f'{err}') from None
    return list(spec['skip'])


@RUNNERS.register_module()
class FERRunner(Runner):
    """mmengine ``Runner`` with strict ``load_from`` / ``resume`` (see the module doc)."""

    _mmfer_resuming = False

    @staticmethod
    def build_dataloader(dataloader, seed=None, diff_rank_seed=False):
        """mmengine's, after :func:`mmfer.datasets.loader_auto.resolve_loader_cfg` has
        resolved ``num_workers='auto'`` / ``persistent_workers='auto'`` of a config dict to
        values sized to the machine (a built DataLoader passes through)."""
        from mmfer.datasets.loader_auto import resolve_loader_cfg
        if isinstance(dataloader, dict):
            dataloader = resolve_loader_cfg(dataloader)
        return Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)

    def build_optim_wrapper(self, optim_wrapper):
        """mmengine's, with :class:`~mmfer.engine.optimizers.FEROptimWrapperConstructor` as the
        default constructor: parameters with ``requires_grad=False`` (frozen auxiliary networks,
        frozen backbone stages) are left out of the optimizer. A config's own ``constructor``
        wins. With ``amp`` set, the wrapper becomes the mixed-precision one
        (:func:`mmfer.utils.performance.amp_optim_wrapper_cfg`); with ``fused_optimizer=True``
        the optimizer is built with ``fused=True``
        (:func:`mmfer.utils.performance.fused_optimizer_cfg`)."""
        if (isinstance(optim_wrapper, dict) and 'constructor' not in optim_wrapper
                and isinstance(optim_wrapper.get('optimizer'), dict)):
            optim_wrapper = type(optim_wrapper)(optim_wrapper,
                                                constructor='FEROptimWrapperConstructor')
        if isinstance(optim_wrapper, dict) and fused_optimizer_of(self.cfg):
            optim_wrapper = fused_optimizer_cfg(optim_wrapper)
        if isinstance(optim_wrapper, dict) and self._amp() is not None:
            optim_wrapper = amp_optim_wrapper_cfg(optim_wrapper, self._amp())
        return super().build_optim_wrapper(optim_wrapper)

    # ------------------------------------------------------------------------------------------
    # performance options (module docstring)
    def _device_type(self) -> str:
        from mmengine.device import get_device
        return get_device().split(':')[0]

    def _amp(self):
        return check_amp(self._device_type(), self.cfg.get('amp', None))

    def wrap_model(self, model_wrapper_cfg, model):
        """``channels_last`` (default True in ``default_runtime.py``), then mmengine's
        ``wrap_model`` (move to the device, DDP)."""
        if self.cfg.get('channels_last', False) and not is_model_wrapper(model):
            to_channels_last(model)
            self.logger.info('channels_last: 4-D parameters and buffers in channels_last (NHWC) '
                             'memory format (set channels_last=False or --no-channels-last to '
                             'keep NCHW)')
        amp = self._amp()
        if amp == 'bf16' and self._device_type() == 'cpu' and not cpu_has_native_bf16():
            self.logger.warning('amp=bf16 on a CPU without native bf16 (AVX512-BF16 / AMX): '
                                'oneDNN emulates it, which is usually much slower than fp32 '
                                '(docs/performance.md)')
        return super().wrap_model(model_wrapper_cfg, model)

    def _maybe_compile(self, target: str) -> None:
        """mmengine's (``torch.compile`` of ``self.model.<target>`` when ``cfg.compile``), plus
        a log line with the wall time of the first call (compilation + one iteration)."""
        super()._maybe_compile(target)
        compile_cfg = self.cfg.get('compile', None)
        if compile_cfg is True or isinstance(compile_cfg, dict):  # mmengine compiled it
            after, logger = getattr(self.model, target), self.logger
            if is_frozen_compile(compile_cfg):  # dynamo reads the global flag (performance.py)
                after = FrozenCompiled(after)

            def report(seconds, target=target):
                logger.info(f'compile: the first {target} call took {seconds:.1f} s '
                            '(torch.compile cold start + one iteration)')
            setattr(self.model, target, TimedFirstCall(after, report))

    def _prepare_eval_step(self, target: str) -> None:
        """Compile (``cfg.compile``) and autocast (``cfg.amp``) ``val_step`` / ``test_step``,
        once."""
        flag = f'_mmfer_{target}_prepared'
        if getattr(self, flag, False):
            return
        setattr(self, flag, True)
        self._maybe_compile(target)
        amp = self._amp()
        if amp is None:
            return
        step, device_type = getattr(self.model, target), self._device_type()

        def autocast_step(*args, **kwargs):
            with autocast_context(device_type, amp):
                return float_outputs(step(*args, **kwargs))
        setattr(self.model, target, autocast_step)
        self.logger.info(f'amp: {target} runs under {amp} autocast')

    def train(self):
        """mmengine's ``train``; ``val_step`` compiled / autocast as configured; a frozen
        compile (weights baked in) refused."""
        check_not_frozen_for_training(self.cfg.get('compile', None))
        if self._val_loop is not None:
            self._prepare_eval_step('val_step')
        return super().train()

    def val(self) -> dict:
        self._prepare_eval_step('val_step')
        return super().val()

    def test(self) -> dict:
        self._prepare_eval_step('test_step')
        return super().test()

    def resume(self, filename: str, resume_optimizer: bool = True,
               resume_param_scheduler: bool = True,
               map_location: Union[str, Callable] = 'default') -> None:
        """mmengine's ``resume``; the weights are loaded strictly (no loss-state exemption, no
        partial skip) and the file must be a training checkpoint."""
        self._mmfer_resuming = True
        try:
            super().resume(filename, resume_optimizer=resume_optimizer,
                           resume_param_scheduler=resume_param_scheduler,
                           map_location=map_location)
        finally:
            self._mmfer_resuming = False

    def load_checkpoint(self, filename: str, map_location: Union[str, Callable] = 'cpu',
                        strict: bool = True, revise_keys: list = [(r'^module\.', '')]):
        """Read ``filename`` (mmfer's safe reader), run ``after_load_checkpoint`` hooks and load
        the state dict strictly into the model.

        ``strict`` is accepted for mmengine's signature; mmfer always compares the keys — the
        only relaxations are loss state for ``load_from`` and ``load_from_partial``.

        Raises:
            CheckpointMismatchError: missing / unexpected / mis-shaped keys (listed, with the
                file and the fix).
            CheckpointError: a resume file that is not a training checkpoint.
        """
        resuming = self._mmfer_resuming
        checkpoint = _load_checkpoint(filename, map_location=map_location)
        if resuming:
            meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
            lacks = [f'meta.{k}' for k in ('epoch', 'iter')
                     if not isinstance(meta, dict) or k not in meta]
            if not isinstance(checkpoint, dict) or 'message_hub' not in checkpoint:
                lacks.append('message_hub')
            if lacks:
                raise CheckpointError(
                    f'{filename}: cannot resume from this file: it is not an mmengine training '
                    f'checkpoint (no {", ".join(lacks)}).\n  {_RESUME_FIX}', path=filename)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model

        state_dict = extract_state_dict(checkpoint, filename)
        for pattern, repl in revise_keys:
            state_dict = OrderedDict((re.sub(pattern, repl, k), v)
                                     for k, v in state_dict.items())
        skip = [] if resuming else parse_partial(self.cfg.get('load_from_partial'))
        ignore = [] if resuming else [LOSS_STATE_KEYS]
        if skip:
            state_dict = self._apply_partial(model, state_dict, skip, filename)
        what = 'resume' if resuming else 'load_from'
        fix = (_RESUME_FIX if resuming else
               'Fix: load_from must match the model exactly (loss state head.losses.* may be '
               'absent). To fine-tune with parts that differ (e.g. a new head), opt in: '
               "load_from_partial = dict(skip=[r'^head\\.fc\\.']) (docs/reliability.md).")
        check_state_dict(model, state_dict, source=f'{what} checkpoint {filename}',
                         ignore=ignore + skip, fix=fix)
        model.load_state_dict(state_dict, strict=False)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename} ({len(state_dict)} entries, '
                         f'strict{" resume" if resuming else ""})')
        return checkpoint

    def _apply_partial(self, model, state_dict: Dict, skip: List[str], filename: str) -> Dict:
        """Drop the file keys matching ``skip`` and log every skipped file and model key."""
        regs = [re.compile(p) for p in skip]
        own = list(model.state_dict())
        unused = [p for p, r in zip(skip, regs)
                  if not any(r.search(k) for k in list(state_dict) + own)]
        if unused:
            raise CheckpointError(
                f'load_from_partial.skip: {unused} match no key of {filename} nor of the model '
                f'({type(model).__name__}); fix the pattern (keys look like '
                f'{own[:3]}).', path=filename)
        kept = OrderedDict((k, v) for k, v in state_dict.items()
                           if not any(r.search(k) for r in regs))
        skipped_file = [k for k in state_dict if k not in kept]
        skipped_model = [k for k in own if any(r.search(k) for r in regs)]
        self.logger.warning(
            f'load_from_partial: partial load of {filename} (skip={skip}):\n'
            f'  {len(skipped_file)} file entries not loaded: {", ".join(skipped_file) or "-"}\n'
            f'  {len(skipped_model)} model entries keep their initialisation: '
            f'{", ".join(skipped_model) or "-"}')
        return kept
