"""FER datasets (one on-disk format per file), dataset wrappers, samplers and transforms; the
public names of samplers/ and transforms/ are exported here too."""
from . import samplers, transforms
from .affectnet import AffectNet
from .base import BaseFERDataset, FERDataError
from .class_maps import CLASS_ORDERS, canonical_name, remap_labels, resolve_classes
from .extra_samples import ExtraClassSamples
from .ferplus import FERPlus
from .image_folder import FERImageFolder
from .kdef import KDEF
from .label_noise import LabelNoiseDataset
from .list_file import FERListDataset
from .pose_subset import PoseSubset
from .quadruplet import QuadrupletDataset
from .rafdb import RAFDB
from .samplers import *  # noqa: F401,F403
from .sfew import SFEW
from .synthfer import SynthFER
from .transforms import *  # noqa: F401,F403

__all__ = (['samplers', 'transforms', 'BaseFERDataset', 'FERDataError', 'RAFDB', 'AffectNet',
            'FERPlus', 'FERImageFolder', 'SFEW', 'KDEF', 'FERListDataset', 'SynthFER',
            'LabelNoiseDataset', 'ExtraClassSamples', 'QuadrupletDataset', 'PoseSubset',
            'CLASS_ORDERS',
            'canonical_name', 'remap_labels', 'resolve_classes']
           + samplers.__all__ + transforms.__all__)

# Explicit imports make the documented paths resolve; import_submodules then imports any module
# not listed above, so a new plugin file is registered even before it is exported here
# (tests/test_docs/test_doc_names.py fails until its registered classes are in __all__).
from mmfer.utils.imports import import_submodules  # noqa: E402

import_submodules(__name__, __path__)
