"""SingleSampleBatchHook: drop only a last training batch of one sample (BatchNorm cannot train
on it), keep every other partial last batch."""
import copy

from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import BatchSampler, DataLoader, Sampler

from mmfer.registry import HOOKS


class WithoutSingleSampleTail(Sampler):
    """Wraps a sampler of ``n`` indices per epoch: when ``n % batch_size == 1`` the last index
    of the epoch's order is left out (it would form a batch of one), otherwise every index is
    yielded. Length: ``n - 1`` or ``n``. The wrapped sampler keeps its role: ``set_epoch``
    (``DistSamplerSeedHook``) still reaches it through ``DataLoader.sampler``.

    With a shuffling sampler the left-out sample changes every epoch, so no sample is excluded
    from training for good."""

    def __init__(self, sampler, batch_size: int):
        self.sampler = sampler
        self.batch_size = batch_size

    def _keep(self) -> int:
        n = len(self.sampler)
        return n - 1 if n % self.batch_size == 1 else n

    def __iter__(self):
        keep = self._keep()
        for i, index in enumerate(self.sampler):
            if i >= keep:
                break
            yield index

    def __len__(self) -> int:
        return self._keep()


@HOOKS.register_module()
class SingleSampleBatchHook(Hook):
    """A training epoch of ``n ≡ 1 (mod batch_size)`` samples per rank ends with a batch of one
    sample, on which every BatchNorm layer in training mode fails ("Expected more than 1 value
    per channel when training") — after a whole epoch of work (issue 10 item 6). The official
    DAN loop keeps its last *partial* batch (RAF-DB: 12 271 images, batch 256 → 48 iterations,
    the last of 239), so ``drop_last=True`` would change the schedule; this hook drops only a
    batch of one:

    - ``before_run`` (the train loop and its dataloader exist, nothing has iterated yet): when
      the train dataloader uses PyTorch's ``BatchSampler`` without ``drop_last`` and its
      per-rank sampler length ``n`` (``len(dataloader.sampler)``; under distributed sampling
      mmengine's ``DefaultSampler`` gives each rank ``ceil(N / world_size)``) satisfies
      ``n % batch_size == 1``, it wraps the batch sampler's sampler in
      :class:`WithoutSingleSampleTail` and logs a WARNING naming the sample count, the batch
      size and the resulting iterations per epoch. For an epoch-based loop it then sets the
      loop's ``max_iters`` to ``max_epochs × new length`` and rebuilds the parameter schedulers
      from the config (iteration-based or ``convert_to_iter_based`` schedules were computed
      with the old epoch length; optimizer values are first reset to their ``initial_*`` so
      the rebuild equals a first build), before any checkpoint is resumed.
    - ``n == 1`` (nothing would be left) raises before training with the fix.
    - A custom ``batch_sampler`` (batch sizes unknown here) is left alone, logged at INFO.

    It is a ``default_hooks`` entry (``single_sample_batch``) of
    ``configs/_base_/default_runtime.py``, so it applies to every model;
    ``default_hooks = dict(single_sample_batch=dict(enable=False))`` disables it.

    Args:
        enable (bool): False leaves the dataloader alone. Default True.
    """
    priority = 'VERY_HIGH'

    def __init__(self, enable: bool = True):
        self.enable = enable

    def before_run(self, runner) -> None:
        if not self.enable:
            return
        loop = getattr(runner, '_train_loop', None)
        loader = getattr(loop, 'dataloader', None)
        if not isinstance(loader, DataLoader):
            return  # test / val only, or the train loop is not built yet
        batch_sampler = loader.batch_sampler
        if type(batch_sampler) is not BatchSampler:
            runner.logger.info(
                'SingleSampleBatchHook: the train dataloader has a custom batch sampler '
                f'({type(batch_sampler).__name__}); a last batch of one sample is not checked')
            return
        if batch_sampler.drop_last or isinstance(batch_sampler.sampler,
                                                 WithoutSingleSampleTail):
            return
        batch_size = batch_sampler.batch_size
        n = len(batch_sampler.sampler)
        if batch_size < 2 or n % batch_size != 1:
            return
        rank = (f' on rank {get_rank()} of {get_world_size()}'
                if get_world_size() > 1 else '')
        if n == 1:
            raise ValueError(
                f'the training set has 1 sample per epoch{rank} (batch_size={batch_size}): '
                'BatchNorm cannot train on a batch of one. Use a training set of at least 2 '
                'samples per rank (or fewer GPUs).')
        old_len = len(loader)
        batch_sampler.sampler = WithoutSingleSampleTail(batch_sampler.sampler, batch_size)
        runner.logger.warning(
            f'training set: {n} samples per epoch{rank} = {n // batch_size} × batch_size '
            f'{batch_size} + 1: the last batch would hold a single sample, on which BatchNorm '
            f'cannot train. SingleSampleBatchHook drops that one sample each epoch (a different '
            f'one every epoch when shuffling): {len(loader)} iterations per epoch instead of '
            f'{old_len}; every other partial last batch is kept, as the official DAN code '
            'does. To change this, use a batch size that does not leave 1 sample over, or set '
            'train_dataloader.drop_last=True to drop every partial last batch.')
        if isinstance(loop, EpochBasedTrainLoop):
            loop._max_iters = loop.max_epochs * len(loader)
            self._rebuild_schedulers(runner)

    @staticmethod
    def _rebuild_schedulers(runner) -> None:
        cfg = runner.cfg.get('param_scheduler', None)
        built = runner.param_schedulers
        if not cfg or not built:
            return
        flat = (built if isinstance(built, list) else
                [s for group in built.values() for s in group])
        for scheduler in flat:
            name = scheduler.param_name
            for group in scheduler.optimizer.param_groups:
                if f'initial_{name}' in group:
                    group[name] = group[f'initial_{name}']
                    if getattr(scheduler, 'use_betas', False):
                        group['betas'] = (group[name], group['betas'][1])
        runner.param_schedulers = runner.build_param_scheduler(copy.deepcopy(cfg))
