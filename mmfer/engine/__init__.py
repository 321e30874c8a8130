"""Engine plugins (hooks, optimizer wrappers); their public names are exported here too."""
from . import hooks, optimizers
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .runner import FERRunner

__all__ = ['hooks', 'optimizers', 'FERRunner'] + hooks.__all__ + optimizers.__all__

# Explicit imports make the documented paths resolve; import_submodules then imports any module
# not listed above, so a new plugin file is registered even before it is exported here
# (tests/test_docs/test_doc_names.py fails until its registered classes are in __all__).
from mmfer.utils.imports import import_submodules  # noqa: E402

import_submodules(__name__, __path__)
