import torch
from mmengine.registry import DefaultScope

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


def test_mmpretrain_image_classifier_with_mmfer_neck():
    """mmpretrain's ImageClassifier builds its unprefixed parts (ClsDataPreprocessor,
    CrossEntropyLoss) and an mmfer neck under default_scope='mmfer'."""
    from mmengine.model import BaseModule

    @MODELS.register_module(force=True)
    class _PoolNeckForTest(BaseModule):
        def forward(self, x):
            return (x[-1].mean(dim=(2, 3)) * 2.0, )

    with DefaultScope.overwrite_default_scope('mmfer'):
        model = MODELS.build(dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
            neck=dict(type='_PoolNeckForTest'),
            head=dict(type='LinearClsHead', num_classes=7, in_channels=64,
                      loss=dict(type='CrossEntropyLoss'))))
    assert type(model.neck).__name__ == '_PoolNeckForTest'
    assert type(model.data_preprocessor).__name__ == 'ClsDataPreprocessor'
    out = model(torch.zeros(2, 3, 32, 32), mode='tensor')
    assert out.shape == (2, 7)
