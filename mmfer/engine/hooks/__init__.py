"""Training hooks: epoch-dependent datasets, run records (class names, class-count check), and
the training guards (non-finite loss, batch of one sample, distributed timeout), LAN's guidance
maps."""
from .dataset_epoch_hook import DatasetEpochHook
from .dist_timeout_hook import DistTimeoutHook
from .guidance_map_hook import GuidanceMapHook
from .non_finite_loss_hook import NonFiniteLossHook
from .run_info_hook import RunInfoHook
from .single_sample_batch_hook import SingleSampleBatchHook, WithoutSingleSampleTail

__all__ = ['DatasetEpochHook', 'DistTimeoutHook', 'NonFiniteLossHook', 'RunInfoHook',
           'SingleSampleBatchHook', 'WithoutSingleSampleTail', 'GuidanceMapHook']

# Explicit imports make the documented paths resolve; import_submodules then imports any module
# not listed above, so a new plugin file is registered even before it is exported here
# (tests/test_docs/test_doc_names.py fails until its registered classes are in __all__).
from mmfer.utils.imports import import_submodules  # noqa: E402

import_submodules(__name__, __path__)
