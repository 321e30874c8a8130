"""mmfer models; every public name of the sub-packages is also exported here (as mmpretrain
does), e.g. ``mmfer.models.DANHead`` is ``mmfer.models.heads.DANHead``."""
from . import backbones, classifiers, heads, losses, necks
from .backbones import *  # noqa: F401,F403
from .classifiers import *  # noqa: F401,F403
from .batch_augments import BatchHorizontalFlip, BatchRandomErasing, BatchResize
from .data_preprocessors import FERDataPreprocessor, MultiViewDataPreprocessor
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403

__all__ = (['backbones', 'necks', 'heads', 'losses', 'classifiers', 'MultiViewDataPreprocessor',
            'FERDataPreprocessor', 'BatchResize', 'BatchHorizontalFlip', 'BatchRandomErasing']
           + backbones.__all__ + necks.__all__ + heads.__all__ + losses.__all__
           + classifiers.__all__)

# Explicit imports make the documented paths resolve; import_submodules then imports any module
# not listed above, so a new plugin file is registered even before it is exported here
# (tests/test_docs/test_doc_names.py fails until its registered classes are in __all__).
from mmfer.utils.imports import import_submodules  # noqa: E402

import_submodules(__name__, __path__)
