import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

import mmfer  # noqa: F401
from mmfer.registry import DATASETS, METRICS, MODELS, TRANSFORMS
from mmpretrain.registry import MODELS as MMPRE_MODELS


def test_registries_are_children_of_mmpretrain():
    assert MODELS.parent is MMPRE_MODELS
    assert MODELS.scope == 'mmfer'
    # mmpretrain's own unprefixed pieces resolve under the mmfer scope
    assert MODELS.get('ResNet').__module__.startswith('mmpretrain')
    assert MODELS.get('ClsDataPreprocessor').__module__.startswith('mmpretrain')
    assert TRANSFORMS.get('PackInputs').__module__.startswith('mmpretrain')
    assert METRICS.get('Accuracy').__module__.startswith('mmpretrain')
    assert MODELS.get('FERClassifier').__module__.startswith('mmfer')
    assert METRICS.get('FERMetric').__module__.startswith('mmfer')


def _image_classifier(neck):
    """mmpretrain's ImageClassifier (a 64-channel ResNet-18) with an mmfer neck and an mmfer
    head, built under default_scope='mmfer' from unprefixed type names."""
    with DefaultScope.overwrite_default_scope('mmfer'):
        return MODELS.build(dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
            neck=neck,
            head=dict(type='FERClsHead', num_classes=7, in_channels=64,
                      losses=[dict(type='FERCrossEntropyLoss')])))


def test_mmpretrain_image_classifier_with_mmfer_neck():
    """An mmfer neck returns a dict of named tensors (``feat`` plus what losses need); mmpretrain's
    ImageClassifier passes it to the mmfer head untouched in all three modes, and its own
    unprefixed parts (ClsDataPreprocessor) resolve under default_scope='mmfer'."""
    from mmengine.model import BaseModule

    @MODELS.register_module(force=True)
    class _DictNeckForTest(BaseModule):
        """feat = 2 · GAP(last backbone map); attn_maps = channel sum of |map| (N×1×h×w)."""

        def forward(self, x):
            m = x[-1]
            return dict(feat=m.mean(dim=(2, 3)) * 2.0, attn_maps=m.abs().sum(1, keepdim=True))

    model = _image_classifier(dict(type='_DictNeckForTest'))
    assert type(model.neck).__name__ == '_DictNeckForTest'
    assert type(model.data_preprocessor).__name__ == 'ClsDataPreprocessor'
    assert type(model.head).__module__.startswith('mmfer')
    model.eval()
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        last = model.backbone(x)[-1]
        feats = model.extract_feat(x)
        logits = model(x, mode='tensor')
    # the named-tensor protocol: a dict holding feat (N×D) and the extra maps
    assert isinstance(feats, dict) and set(feats) == {'feat', 'attn_maps'}
    assert tuple(last.shape) == (2, 64, 1, 1)
    assert tuple(feats['feat'].shape) == (2, 64) and tuple(feats['attn_maps'].shape) == (2, 1, 1, 1)
    assert torch.allclose(feats['feat'], last.mean(dim=(2, 3)) * 2.0)
    assert tuple(logits.shape) == (2, 7)
    assert torch.allclose(logits, model.head.fc(feats['feat']))

    labels = [3, 5]
    samples = [DataSample().set_gt_label(y) for y in labels]
    losses = model(x, samples, mode='loss')
    assert set(losses) == {'loss_ce'}
    expected = F.cross_entropy(logits, torch.tensor(labels))
    assert float(losses['loss_ce']) == pytest.approx(float(expected), rel=1e-5)
    with torch.no_grad():
        preds = model(x, [DataSample() for _ in labels], mode='predict')
    assert torch.allclose(torch.stack([p.pred_score for p in preds]), logits.softmax(1), atol=1e-6)
    assert [int(p.pred_label) for p in preds] == logits.argmax(1).tolist()


def test_real_mmfer_neck_follows_the_named_tensor_protocol():
    """DAN's MultiHeadCrossAttention inside mmpretrain's ImageClassifier returns head_feats,
    attn_maps and the fused feat (feat = Σ_h head_feats, bounded by −H·log H), shapes per head
    (``backbone_map`` is added by FERClassifier, not by the neck)."""
    model = _image_classifier(dict(type='MultiHeadCrossAttention', in_channels=64, num_heads=2))
    model.eval()
    torch.manual_seed(1)
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(2, 3, 64, 64))
    assert set(feats) == {'head_feats', 'attn_maps', 'feat'}
    assert tuple(feats['head_feats'].shape) == (2, 2, 64)
    assert tuple(feats['attn_maps'].shape) == (2, 2, 2, 2)  # 64 px → 2×2 map, one per head
    assert tuple(feats['feat'].shape) == (2, 64)
    assert torch.allclose(feats['feat'], feats['head_feats'].sum(1))
    assert float(feats['feat'].max()) <= -2 * math.log(2) + 1e-5
