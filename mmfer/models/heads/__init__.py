"""Classification heads: logits from the neck's ``feat``, and the sum of their configured
losses (``loss_weight * loss``, each logged under its own name)."""
from .cam_head import CAMClsHead
from .dan_head import DANHead
from .fer_head import FERClsHead
from .landmark_head import LandmarkHead

__all__ = ['FERClsHead', 'DANHead', 'CAMClsHead', 'LandmarkHead']

# Explicit imports make the documented paths resolve; import_submodules then imports any module
# not listed above, so a new plugin file is registered even before it is exported here
# (tests/test_docs/test_doc_names.py fails until its registered classes are in __all__).
from mmfer.utils.imports import import_submodules  # noqa: E402

import_submodules(__name__, __path__)
