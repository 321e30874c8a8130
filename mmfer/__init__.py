"""mmfer: facial expression recognition toolbox on mmengine / mmcv / mmpretrain.

Importing mmfer registers every dataset, transform, model, metric and hook in
:mod:`mmfer.registry`, and allow-lists the few types mmengine checkpoints hold for
``torch.load(weights_only=True)`` (see :mod:`mmfer.utils.checkpoint`).
"""
from .version import __version__
from .utils import checkpoint as _checkpoint  # noqa: F401  (safe globals)
from . import apis, datasets, engine, evaluation, models, utils, visualization  # noqa: F401,E402

__all__ = ['__version__', 'apis', 'datasets', 'engine', 'evaluation', 'models', 'utils',
           'visualization']
