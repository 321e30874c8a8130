"""NonFiniteLossHook: stop training on a NaN / inf loss and never write a non-finite checkpoint."""
import math

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook

from mmfer.registry import HOOKS
from mmfer.utils.finite import (LIKELY_FIXES, NonFiniteError, describe_non_finite, loss_values,
                                non_finite_tensors)


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Guard against a diverged run (issue 10 item 5).

    - ``after_train_iter``: reads the iteration's parsed losses (``loss`` and every ``loss_*``
      term of ``train_step``'s output). When any is NaN or ±inf it counts a bad iteration; at
      ``max_bad_iters`` *consecutive* bad iterations it logs an ERROR and raises
      :class:`~mmfer.utils.finite.NonFiniteError` naming the iteration (1-based, as the log
      shows it), the epoch and batch, every loss term's value and the likely fixes, so
      ``tools/train.py`` exits non-zero. A finite iteration resets the count (``max_bad_iters``
      > 1 tolerates e.g. AMP's occasional overflowing step, which the loss scaler skips).
      Under distributed training the flags of all ranks are summed, so every rank stops at the
      same iteration (a rank stopping alone would leave the others waiting in a collective).
    - ``before_save_checkpoint``: refuses (raises) when a floating-point tensor of the
      checkpoint's ``state_dict`` (or ``ema_state_dict``) is non-finite, before anything is
      written, so neither ``epoch_N.pth`` nor a ``best_*.pth`` nor ``last_checkpoint`` ever
      points to NaN weights.

    It runs with priority ``HIGH``: before ``LoggerHook`` and ``CheckpointHook`` (an
    iteration-based checkpoint of the diverged step is never saved). It is a ``default_hooks``
    entry (``non_finite``) of ``configs/_base_/default_runtime.py``, so a config's own
    ``custom_hooks`` cannot drop it; ``default_hooks = dict(non_finite=dict(enable=False))``
    disables it (mmengine accepts ``None`` only for its own default hooks).

    Args:
        max_bad_iters (int): consecutive iterations with a non-finite loss tolerated before
            stopping. Default 1: stop at the first.
        check_checkpoint (bool): check the weights before each checkpoint is written.
            Default True.
        enable (bool): False turns both checks off. Default True.
    """
    priority = 'HIGH'

    def __init__(self, max_bad_iters: int = 1, check_checkpoint: bool = True,
                 enable: bool = True):
        if not (isinstance(max_bad_iters, int) and max_bad_iters >= 1):
            raise ValueError(f'NonFiniteLossHook: max_bad_iters must be an int >= 1, got '
                             f'{max_bad_iters!r} (1 = stop at the first non-finite loss)')
        self.max_bad_iters = max_bad_iters
        self.check_checkpoint = check_checkpoint
        self.enable = enable
        self.bad_iters = 0

    def before_train(self, runner) -> None:
        self.bad_iters = 0

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.enable:
            return
        values = {k: v for k, v in loss_values(outputs).items() if 'loss' in k}
        bad_here = [k for k, v in values.items() if not math.isfinite(v)]
        n_bad_ranks = int(len(bad_here) > 0)
        if get_world_size() > 1:
            flag = torch.tensor([float(n_bad_ranks)])
            all_reduce(flag, op='sum')
            n_bad_ranks = int(flag.item())
        if not n_bad_ranks:
            self.bad_iters = 0
            return
        self.bad_iters += 1
        where = self._where(runner, batch_idx)
        terms = ', '.join(f'{k}={v:.6g}' for k, v in values.items()) or '(no loss values)'
        if not bad_here:
            own = (f'this rank\'s losses are finite ({terms}); {n_bad_ranks} other rank(s) '
                   'reported a non-finite loss')
        else:
            own = f'non-finite: {", ".join(bad_here)}; loss terms: {terms}'
        if self.bad_iters < self.max_bad_iters:
            runner.logger.warning(f'non-finite loss at {where} ({own}); '
                                  f'{self.bad_iters}/{self.max_bad_iters} consecutive bad '
                                  'iterations tolerated (NonFiniteLossHook.max_bad_iters)')
            return
        msg = (f'training stopped: non-finite loss at {where} ({own}) — '
               f'{self.bad_iters} consecutive bad iteration(s), limit max_bad_iters='
               f'{self.max_bad_iters}. The weights updated by this step are not saved. '
               f'{LIKELY_FIXES}. To tolerate a few bad steps set '
               "default_hooks.non_finite.max_bad_iters (e.g. --cfg-options "
               'default_hooks.non_finite.max_bad_iters=5).')
        runner.logger.error(msg)
        raise NonFiniteError(msg)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not (self.enable and self.check_checkpoint):
            return
        bad = []
        for key in ('state_dict', 'ema_state_dict'):
            if isinstance(checkpoint.get(key), dict):
                bad += [(f'{key}.{n}', nan, inf)
                        for n, nan, inf in non_finite_tensors(checkpoint[key])]
        if bad:
            msg = (f'checkpoint refused at epoch {runner.epoch + 1}, iteration {runner.iter}: '
                   f'non-finite weights in {describe_non_finite(bad)}. Nothing was written; '
                   f'the last finite checkpoint in {runner.work_dir} is kept. The run diverged. '
                   f'{LIKELY_FIXES}.')
            runner.logger.error(msg)
            raise NonFiniteError(msg)

    @staticmethod
    def _where(runner, batch_idx: int) -> str:
        loop = runner.train_loop
        try:
            n_batches = f'/{len(loop.dataloader)}'
        except TypeError:
            n_batches = ''
        return (f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}, batch '
                f'{batch_idx + 1}{n_batches})')
