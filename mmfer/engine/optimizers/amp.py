"""Mixed-precision optim wrappers that also run on CPU.

mmengine 0.10.7's ``AmpOptimWrapper`` asserts a GPU / NPU / MLU / MUSA in its constructor, so
``--amp`` failed on a CPU machine. :class:`FERAmpOptimWrapper` is the same wrapper (it *is* an
``AmpOptimWrapper``: ``backward`` / ``step`` / ``state_dict`` / ``load_state_dict`` are
mmengine's) with the device taken from mmengine's ``get_device()`` and:

==========  =====================================  =====================================
``dtype``   CUDA (and other accelerators)          CPU
==========  =====================================  =====================================
``fp16``    autocast fp16 + dynamic ``GradScaler``  the same, ``GradScaler('cpu')``, on a CPU
            (mmengine's ``AmpOptimWrapper``)        with native fp16; refused (ValueError, the
                                                   reason: :func:`~mmfer.utils.performance.
                                                   check_amp`) on the others
``bf16``    autocast bf16, no loss scaling         autocast bf16, no loss scaling
==========  =====================================  =====================================

bf16 keeps fp32's 8-bit exponent, so gradients do not underflow and need no scaling (mmengine
scales them anyway); a disabled ``GradScaler`` stands in, so every scaler call is a no-op and
checkpoints keep a ``loss_scaler`` entry.  An explicit ``loss_scale`` turns the scaler on for
bf16 too.  :class:`SAMFERAmpOptimWrapper` is SAM's two-pass step on top
(``--amp`` picks it for SAM configs).

With the scaler on (fp16), no skipped step is silent: after every step the scale goes to the
message hub as ``train/loss_scale`` (the training log shows it), and a step the scaler skipped
(inf / NaN in the gradients, the scale backed off) is logged with the new scale and the count
so far (``skipped_steps``). A few skips in the first iterations are the scaler finding its
range; skips that go on mean the model overflows fp16.
"""
from contextlib import contextmanager
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.logging import MessageHub, print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from mmfer.registry import OPTIM_WRAPPERS
from mmfer.utils.performance import AMP_DTYPES, autocast_context, check_amp

from .sam import SAMAmpOptimWrapper

_DTYPE_NAMES = {torch.bfloat16: 'bf16', torch.float16: 'fp16'}


@OPTIM_WRAPPERS.register_module()
class FERAmpOptimWrapper(AmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` on any device (see the module docstring).

    Args:
        dtype (str | torch.dtype): ``'bf16'`` / ``'bfloat16'`` / ``torch.bfloat16`` or
            ``'fp16'`` / ``'float16'`` / ``torch.float16``. Default ``'bf16'``: it works on
            CPU and GPU alike and needs no loss scaling.
        loss_scale (str | float | dict, optional): as mmengine's (``'dynamic'``, an initial
            scale, or ``GradScaler`` kwargs). Default None: ``'dynamic'`` for fp16, no scaling
            for bf16.
        device_type (str, optional): ``'cpu'``, ``'cuda'`` ...; default mmengine's
            ``get_device()``.
        **kwargs: mmengine ``OptimWrapper`` arguments (``optimizer``, ``clip_grad``,
            ``accumulative_counts``).

    Raises:
        ValueError: fp16 on a CPU without native fp16, an unknown dtype
            (:func:`~mmfer.utils.performance.check_amp`).
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bf16',
                 loss_scale: Union[str, float, dict, None] = None,
                 device_type: Optional[str] = None, use_fsdp: bool = False, **kwargs):
        if device_type is None:
            from mmengine.device import get_device
            device_type = get_device().split(':')[0]
        amp = check_amp(device_type, _DTYPE_NAMES.get(dtype, dtype))
        if amp is None:
            raise ValueError(f"{type(self).__name__}: dtype must be 'bf16' or 'fp16', got "
                             f'{dtype!r} (for fp32 use OptimWrapper)')
        if use_fsdp:
            raise ValueError(f'{type(self).__name__}: use_fsdp is not supported; use mmengine\'s '
                             'AmpOptimWrapper for FSDP')
        # mmengine's AmpOptimWrapper.__init__ asserts an accelerator; everything else it sets
        # up is repeated here
        OptimWrapper.__init__(self, **kwargs)
        self.device_type = device_type
        self.amp = amp
        self.cast_dtype = AMP_DTYPES[amp]
        self._scale_update_param = None
        if loss_scale is None:
            loss_scale = 'dynamic' if amp == 'fp16' else None
        scaler_device = device_type if device_type in ('cuda', 'cpu', 'xpu') else 'cuda'
        if loss_scale is None:
            self.loss_scaler = torch.amp.GradScaler(scaler_device, enabled=False)
        elif loss_scale == 'dynamic':
            self.loss_scaler = torch.amp.GradScaler(scaler_device)
        elif isinstance(loss_scale, (float, int)) and not isinstance(loss_scale, bool):
            self._scale_update_param = float(loss_scale)
            self.loss_scaler = torch.amp.GradScaler(scaler_device, init_scale=float(loss_scale))
        elif isinstance(loss_scale, dict):
            self.loss_scaler = torch.amp.GradScaler(scaler_device, **loss_scale)
        else:
            raise ValueError(f"{type(self).__name__}: loss_scale must be None, 'dynamic', a "
                             f'float or a dict of GradScaler arguments, got {loss_scale!r}')
        #: optimizer steps the loss scaler skipped (non-finite gradients) in this run
        self.skipped_steps = 0

    def step(self, **kwargs):
        """mmengine's ``AmpOptimWrapper.step`` — unscale and clip (with ``clip_grad``), the
        scaler's step (skipped on inf / NaN), the scaler's update — with the skip read between
        the last two and passed to :meth:`_record_scale`."""
        if not self.loss_scaler.is_enabled():
            return super().step(**kwargs)
        if self.clip_grad_kwargs:
            self.loss_scaler.unscale_(self.optimizer)
            self._clip_grad()
        before = self._loss_scale()
        self.loss_scaler.step(self.optimizer, **kwargs)
        found_inf = self.loss_scaler._found_inf_per_device(self.optimizer)
        skipped = bool(sum(float(v) for v in found_inf.values()))
        self.loss_scaler.update(self._scale_update_param)
        self._record_scale(before, skipped)

    def _loss_scale(self) -> Optional[float]:
        return float(self.loss_scaler.get_scale()) if self.loss_scaler.is_enabled() else None

    def _record_scale(self, before: Optional[float], skipped: bool, log: bool = True) -> None:
        """``train/loss_scale`` to the message hub; a skipped step counted in
        ``skipped_steps`` and, with ``log``, logged with the scale before and after."""
        after = self._loss_scale()
        if after is None:
            return
        MessageHub.get_current_instance().update_scalar('train/loss_scale', after)
        if skipped:
            self.skipped_steps += 1
            if log:
                print_log(f'{type(self).__name__}: inf / NaN in the {self.amp} gradients; '
                          f'optimizer step skipped, loss scale {before} -> {after} '
                          f'({self.skipped_steps} skipped so far)', logger='current', level=20)

    def autocast(self):
        """``torch.autocast`` on this wrapper's device with its dtype."""
        return autocast_context(self.device_type, self.amp)

    @contextmanager
    def optim_context(self, model: nn.Module):
        """``OptimWrapper.optim_context`` (``no_sync`` during accumulation) + autocast."""
        with OptimWrapper.optim_context(self, model), self.autocast():
            yield


@OPTIM_WRAPPERS.register_module()
class SAMFERAmpOptimWrapper(SAMAmpOptimWrapper, FERAmpOptimWrapper):
    """SAM (:class:`~mmfer.engine.optimizers.SAMOptimWrapper`) with
    :class:`FERAmpOptimWrapper`'s precision: bf16 / fp16 (+ ``GradScaler``) on CUDA and on a
    CPU with native fp16, bf16 on the other CPUs. ‖g‖ is computed from unscaled gradients; the
    second pass runs under the same autocast as the first. A first pass with non-finite
    gradients skips the iteration (logged by :class:`SAMAmpOptimWrapper`) and counts in
    ``skipped_steps``; the second pass's step is :class:`FERAmpOptimWrapper`'s.

    Args:
        rho, adaptive, eps: SAM's (:class:`~mmfer.engine.optimizers.SAMOptimWrapper`).
        dtype, loss_scale, device_type: :class:`FERAmpOptimWrapper`'s.
    """

    def _autocast(self):
        return self.autocast()

    def _skip_step(self) -> None:
        before = self._loss_scale()
        super()._skip_step()  # the scaler's step / update and its log line
        self._record_scale(before, skipped=True, log=False)
