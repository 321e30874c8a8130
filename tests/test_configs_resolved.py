"""Resolved values of representative shipped configs (after the shared-base refactor): the QCS
square resizes of the official scripts, the SAM(Adam) + ExponentialLR schedule of qcs.md §10.1,
and the top-level data preprocessor reaching the model as the Runner merges it."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from mmfer.apis import model_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def _cfg(name):
    return Config.fromfile(osp.join(ROOT, 'configs', name))


def _pipelines(cfg):
    """(where, pipeline) for the train (through dataset wrappers) / val / test dataloaders."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = cfg[key]['dataset']
        while 'pipeline' not in ds:
            ds = ds['dataset']
        yield key, ds['pipeline']


def _resizes(pipeline):
    return [t['size'] for t in pipeline if t['type'] == 'torchvision/Resize']


# official main_{QCS,DCS}_*.py: transforms.Resize((s, s)) — a square, not the shorter side
@pytest.mark.parametrize('name,size', [
    ('qcs/qcs_rafdb.py', 224), ('qcs/dcs_rafdb.py', 224), ('qcs/poster_base_rafdb.py', 224),
    ('qcs/qcs_ferplus.py', 232), ('qcs/qcs_ferplus_ft-affectnet8.py', 232),
    ('qcs/dcs_ferplus.py', 234), ('qcs/qcs_affectnet7.py', 236), ('qcs/qcs_affectnet8.py', 236),
    ('qcs/dcs_affectnet7.py', 236), ('qcs/dcs_affectnet8.py', 224),
    ('qcs/qcs_affectnet8_extra-minority.py', 236)])
def test_qcs_resize_is_square(name, size):
    cfg = _cfg(name)
    seen = 0
    for key, pipeline in _pipelines(cfg):
        assert _resizes(pipeline) == [(size, size)], (key, _resizes(pipeline))
        seen += 1
    assert seen == 3
    crop = [t for t in cfg.test_dataloader.dataset.pipeline if t['type'].endswith('CenterCrop')]
    assert [t['size'] for t in crop] == ([] if size == 224 else [224])


def test_no_shorter_side_resize_in_qcs_configs():
    """Every torchvision/Resize of every QCS / DCS / POSTER++ config is given as (h, w), as the
    official scripts' transforms.Resize((s, s))."""
    paths = glob.glob(osp.join(ROOT, 'configs', 'qcs', '*.py'))
    assert len(paths) >= 15
    for path in paths:
        cfg = Config.fromfile(path)
        for key, pipeline in _pipelines(cfg):
            for size in _resizes(pipeline):
                assert isinstance(size, tuple) and len(size) == 2, (path, key, size)


# qcs.md §10.1: (lr, epochs, batch); mmfer's qcs_rafdb is the non-‡ setting (4e-6)
SAM_RECIPES = {
    'qcs/qcs_rafdb.py': (4e-6, 200, 24), 'qcs/qcs_rafdb_ft-affectnet8.py': (3e-6, 200, 24),
    'qcs/qcs_ferplus.py': (3.5e-6, 150, 24), 'qcs/qcs_ferplus_ft-affectnet8.py': (2.5e-6, 150, 24),
    'qcs/qcs_affectnet7.py': (4e-6, 150, 24), 'qcs/qcs_affectnet8.py': (4e-6, 100, 24),
    'qcs/dcs_rafdb.py': (9e-6, 200, 48), 'qcs/dcs_ferplus.py': (8e-6, 150, 24),
    'qcs/dcs_affectnet7.py': (9e-6, 100, 48), 'qcs/dcs_affectnet8.py': (8e-6, 50, 48),
    'qcs/poster_base_rafdb.py': (4e-6, 200, 24),
}


@pytest.mark.parametrize('name', sorted(SAM_RECIPES))
def test_sam_schedule(name):
    lr, epochs, batch = SAM_RECIPES[name]
    cfg = _cfg(name)
    ow = cfg.optim_wrapper
    assert (ow.type, ow.rho, ow.adaptive) == ('SAMOptimWrapper', 0.05, False)
    assert ow.optimizer == dict(type='Adam', lr=lr, betas=(0.9, 0.999), eps=1e-8,
                                weight_decay=0.)
    assert cfg.param_scheduler == dict(type='ExponentialLR', gamma=0.98, by_epoch=True)
    assert cfg.train_cfg == dict(by_epoch=True, max_epochs=epochs, val_interval=1)
    assert cfg.train_dataloader.batch_size == batch
    assert cfg.model_wrapper_cfg == dict(type='SAMDistributedDataParallel')


@pytest.mark.parametrize('name,num_classes', [
    ('dan/dan_r18_rafdb.py', 7), ('dan/dan_r18_affectnet8.py', 8), ('qcs/qcs_ferplus.py', 8),
    ('qcs/qcs_affectnet8.py', 8), ('qcs/dcs_affectnet8.py', 8), ('baseline/r18_synthfer.py', 7),
    ('qcs/poster_base_synthfer.py', 7)])
def test_data_preprocessor_reaches_the_model(name, num_classes):
    """Leaf configs state the data preprocessor once, at top level; the model gets it merged."""
    cfg = _cfg(name)
    assert 'data_preprocessor' not in cfg.model
    expected = dict(num_classes=num_classes, mean=MEAN, std=STD, to_rgb=True)
    assert cfg.data_preprocessor == expected
    assert model_config(cfg).data_preprocessor == expected
    assert cfg.model.head.num_classes == num_classes


def test_qcs_wraps_the_base_dataset():
    """The quadruplet wrapper holds exactly the dataset base's train dataset."""
    cfg = _cfg('qcs/qcs_affectnet7.py')
    ds = cfg.train_dataloader.dataset
    assert (ds.type, ds.num_branches, ds.negative_mode, ds.seed) == (
        'QuadrupletDataset', 4, 'balanced', 0)
    assert {k: v for k, v in ds.dataset.items() if k != 'pipeline'} == dict(
        type='AffectNet', data_root='data/affectnet', split='train', num_classes=7)
    assert cfg.train_dataloader.sampler == dict(type='ClassBalancedSampler', num_samples=1 / 12)
    erase = [t for t in ds.dataset.pipeline if t['type'] == 'NormalizedRandomErasing'][0]
    assert (erase.scale, erase.mean, erase.std) == ((0.03, 0.1), MEAN, STD)
    assert cfg.custom_hooks[-1] == dict(type='DatasetEpochHook')


@pytest.mark.parametrize('name', ['qcs/qcs_ferplus.py', 'dan/dan_r18_rafdb.py'])
def test_checkpoint_input_settings(name):
    """RunInfoHook's checkpoint ``input_cfg`` (what init_model reproduces) takes the top-level
    data preprocessor when the model states none (the Runner's cfg keeps the unmerged model)."""
    from mmfer.engine.hooks.run_info_hook import _input_settings
    cfg = _cfg(name)
    got = _input_settings(cfg)
    assert (got['mean'], got['std'], got['to_rgb']) == (MEAN, STD, True)
    assert got['test_pipeline'] == [dict(t) for t in cfg.test_dataloader.dataset.pipeline]


@pytest.mark.parametrize('name', sorted(SAM_RECIPES) + ['qcs/qcs_synthfer.py',
                                                        'qcs/dcs_synthfer.py'])
def test_qcs_base_loss_weight(name):
    """QCS / DCS: the base head's CE has weight 0.5 (loss_base), so with the cross head's
    0.5 · CE the total is the spec's average of 2V CEs (qcs.md §5); POSTER++ alone keeps 1."""
    cfg = _cfg(name)
    losses = cfg.model.head.losses
    if cfg.model.type == 'FERClassifier':
        assert losses == [dict(type='FERCrossEntropyLoss', loss_weight=1.0)]
    else:
        assert losses == [dict(type='FERCrossEntropyLoss', loss_weight=0.5,
                               loss_name='loss_base')]


def test_qcs_config_loss_is_the_spec_average():
    """The shipped tiny QCS config built as the Runner builds it: loss_base = 1/(2V) Σ_X CE of
    the base head over the 4 views (labels y, y, y′, y′), loss_cross its cross counterpart."""
    import torch
    import torch.nn.functional as F
    from mmpretrain.structures import DataSample

    from mmfer.apis import build_model
    model = build_model(osp.join(ROOT, 'configs', 'qcs', 'qcs_synthfer.py')).eval()
    torch.manual_seed(0)
    inputs = torch.rand(2, 4, 3, 64, 64) * 255
    y, y_neg = [0, 3], [5, 1]
    samples = []
    for a, b in zip(y, y_neg):
        ds = DataSample().set_gt_label(a)
        ds.set_field(torch.tensor([b]), 'neg_label')
        samples.append(ds)
    with torch.no_grad():
        x = model.data_preprocessor(dict(inputs=inputs), False)['inputs']
        losses = model.loss(x, samples)
        targets = [torch.tensor(y), torch.tensor(y), torch.tensor(y_neg), torch.tensor(y_neg)]
        feats = [model.extract_feat(x[:, v]) for v in range(4)]
        ce = [F.cross_entropy(model.head(f), t) for f, t in zip(feats, targets)]
        cross = [F.cross_entropy(model.cross_head.fc(o['feat']), t)
                 for o, t in zip(model.cross_neck(feats), targets)]
    assert set(losses) == {'loss_base', 'loss_cross'}
    torch.testing.assert_close(losses['loss_base'], sum(ce) / 8, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(losses['loss_cross'], sum(cross) / 8, atol=1e-6, rtol=1e-6)
