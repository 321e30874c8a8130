"""Data samplers (class-balanced sampling)."""
from .class_balanced import ClassBalancedSampler

__all__ = ['ClassBalancedSampler']

# Explicit imports make the documented paths resolve; import_submodules then imports any module
# not listed above, so a new plugin file is registered even before it is exported here
# (tests/test_docs/test_doc_names.py fails until its registered classes are in __all__).
from mmfer.utils.imports import import_submodules  # noqa: E402

import_submodules(__name__, __path__)
