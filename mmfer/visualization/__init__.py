"""Confusion-matrix figures from prediction files, training curves from scalars.json and the
switchable TensorBoard backend of the runtime config."""
from .confusion_matrix import (confusion_matrix_from_predictions, load_predictions,
                               normalize_rows, plot_confusion_matrix)
from .curves import load_scalars, plot_curves
from .vis_backends import OptionalTensorboardVisBackend

__all__ = ['load_predictions', 'confusion_matrix_from_predictions', 'normalize_rows',
           'plot_confusion_matrix', 'load_scalars', 'plot_curves',
           'OptionalTensorboardVisBackend']

# Explicit imports make the documented paths resolve; import_submodules then imports any module
# not listed above, so a new plugin file is registered even before it is exported here
# (tests/test_docs/test_doc_names.py fails until its registered classes are in __all__).
from mmfer.utils.imports import import_submodules  # noqa: E402

import_submodules(__name__, __path__)
