"""FER attention necks: each maps backbone feature maps to a dict of named tensors with at least
``feat`` (the pooled vector the head classifies)."""
from .cross_similarity import CrossSimilarityAttention, dcs_scores, qcs_scores
from .local_attention import LocalAttention
from .man_afn import MultiHeadCrossAttention, attention_fusion
from .poster_base import POSTERBase, POSTERViT
from .product_cross_attention import ProductCrossAttention
from .qcs_cross_stage import QCSCrossStage

__all__ = ['MultiHeadCrossAttention', 'attention_fusion', 'CrossSimilarityAttention',
           'dcs_scores', 'qcs_scores', 'POSTERBase', 'POSTERViT', 'QCSCrossStage',
           'LocalAttention', 'ProductCrossAttention']

# Explicit imports make the documented paths resolve; import_submodules then imports any module
# not listed above, so a new plugin file is registered even before it is exported here
# (tests/test_docs/test_doc_names.py fails until its registered classes are in __all__).
from mmfer.utils.imports import import_submodules  # noqa: E402

import_submodules(__name__, __path__)
