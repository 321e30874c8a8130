"""Registered FER losses; each declares the named tensors and data-sample fields it consumes."""
from .affinity import AffinityLoss
from .base import BaseFERLoss, FERCrossEntropyLoss
from .flip_consistency import FlipConsistencyLoss
from .guidance_bce import GuidanceBCELoss
from .landmark import LandmarkLoss
from .neaa import NeAALoss
from .partition import PartitionLoss

__all__ = ['BaseFERLoss', 'FERCrossEntropyLoss', 'AffinityLoss', 'PartitionLoss',
           'GuidanceBCELoss', 'FlipConsistencyLoss', 'NeAALoss', 'LandmarkLoss']

# Explicit imports make the documented paths resolve; import_submodules then imports any module
# not listed above, so a new plugin file is registered even before it is exported here
# (tests/test_docs/test_doc_names.py fails until its registered classes are in __all__).
from mmfer.utils.imports import import_submodules  # noqa: E402

import_submodules(__name__, __path__)
