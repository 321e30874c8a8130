"""FER-specific data transforms (the rest come from mmcv / mmpretrain)."""
from .dan_aug import NormalizedRandomErasing
from .loading import LoadFERImage, to_three_channels
from .paired_flip import PairedFlipView

__all__ = ['LoadFERImage', 'to_three_channels', 'NormalizedRandomErasing', 'PairedFlipView']

# Explicit imports make the documented paths resolve; import_submodules then imports any module
# not listed above, so a new plugin file is registered even before it is exported here
# (tests/test_docs/test_doc_names.py fails until its registered classes are in __all__).
from mmfer.utils.imports import import_submodules  # noqa: E402

import_submodules(__name__, __path__)
