"""DatasetEpochHook: tell epoch-dependent training datasets which epoch is starting."""
from mmengine.hooks import Hook

from mmfer.registry import HOOKS


@HOOKS.register_module()
class DatasetEpochHook(Hook):
    """Before every training epoch, call ``set_epoch(runner.epoch)`` on the training dataset and
    on every dataset it wraps (``.dataset`` chain) that has such a method.

    mmengine's ``DistSamplerSeedHook`` only reaches the *sampler*; datasets whose items depend on
    the epoch (e.g. :class:`~mmfer.datasets.quadruplet.QuadrupletDataset`, whose partner draws are
    seeded by (seed, epoch, index)) need this hook. Raises if no dataset in the chain has
    ``set_epoch`` (the hook would do nothing: a configuration error).
    """

    priority = 'NORMAL'

    def before_train_epoch(self, runner) -> None:
        dataset = runner.train_loop.dataloader.dataset
        found = []
        while dataset is not None:
            if callable(getattr(dataset, 'set_epoch', None)):
                dataset.set_epoch(runner.epoch)
                found.append(type(dataset).__name__)
            dataset = getattr(dataset, 'dataset', None)
        if not found:
            raise TypeError('DatasetEpochHook: the training dataset '
                            f'{type(runner.train_loop.dataloader.dataset).__name__} (and what it '
                            'wraps) has no set_epoch(); remove the hook from custom_hooks')
