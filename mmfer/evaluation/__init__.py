"""FER metrics: accuracy, mean class accuracy, per-class accuracy, macro F1, confusion matrix,
and the noisy-label memorisation rates."""
from .fer_metric import FERMetric, confusion_matrix, fer_scores
from .landmark_metric import LandmarkNME, nme
from .memorisation import MemorisationMetric, last_epochs_summary, memorisation_rates

__all__ = ['FERMetric', 'confusion_matrix', 'fer_scores', 'MemorisationMetric',
           'memorisation_rates', 'last_epochs_summary', 'LandmarkNME', 'nme']

# Explicit imports make the documented paths resolve; import_submodules then imports any module
# not listed above, so a new plugin file is registered even before it is exported here
# (tests/test_docs/test_doc_names.py fails until its registered classes are in __all__).
from mmfer.utils.imports import import_submodules  # noqa: E402

import_submodules(__name__, __path__)
