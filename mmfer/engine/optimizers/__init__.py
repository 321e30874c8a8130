"""Optimizer wrappers: SAM (two-pass sharpness-aware minimisation), its AMP variant and DDP
wrapper, mixed precision that also runs on CPU (``FERAmpOptimWrapper`` and its SAM variant),
and the optimizer-wrapper constructor."""
from .amp import FERAmpOptimWrapper, SAMFERAmpOptimWrapper
from .constructor import FEROptimWrapperConstructor
from .sam import SAMAmpOptimWrapper, SAMDistributedDataParallel, SAMOptimWrapper

__all__ = ['SAMOptimWrapper', 'SAMAmpOptimWrapper', 'SAMDistributedDataParallel',
           'FEROptimWrapperConstructor', 'FERAmpOptimWrapper', 'SAMFERAmpOptimWrapper']

# Explicit imports make the documented paths resolve; import_submodules then imports any module
# not listed above, so a new plugin file is registered even before it is exported here
# (tests/test_docs/test_doc_names.py fails until its registered classes are in __all__).
from mmfer.utils.imports import import_submodules  # noqa: E402

import_submodules(__name__, __path__)
