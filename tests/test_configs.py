"""Every shipped config parses, builds its model, and agrees with itself on the class count."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmfer.apis import build_model, model_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p.split(osp.sep))
pytestmark = pytest.mark.usefixtures('one_thread')


def _dataset_cfgs(cfg):
    """The innermost dataset dicts of train / val / test (through wrappers like QuadrupletDataset)."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = cfg[key]['dataset']
        while 'dataset' in ds:
            ds = ds['dataset']
        yield key, ds


def test_config_list_is_complete():
    names = {osp.relpath(p, osp.join(ROOT, 'configs')) for p in CONFIGS}
    # one config per method × dataset, as the issues ask
    for required in ['baseline/r18_rafdb.py', 'baseline/r18_synthfer.py',
                     'dan/dan_r18_rafdb.py', 'dan/dan_r18_affectnet7.py',
                     'dan/dan_r18_affectnet8.py', 'dan/dan_r18_sfew.py', 'dan/dan_r18_synthfer.py',
                     'qcs/qcs_rafdb.py', 'qcs/qcs_ferplus.py', 'qcs/qcs_affectnet7.py',
                     'qcs/qcs_affectnet8.py', 'qcs/dcs_rafdb.py', 'qcs/dcs_ferplus.py',
                     'qcs/dcs_affectnet7.py', 'qcs/dcs_affectnet8.py',
                     'qcs/poster_base_rafdb.py', 'qcs/qcs_synthfer.py', 'qcs/dcs_synthfer.py']:
        assert required in names


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, osp.join(ROOT, 'configs')))
def test_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.get('default_scope') == 'mmfer'
    model = build_model(cfg)   # as the Runner builds it; no init_weights (no pretrained files)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params > 0
    head_classes = cfg.model.head.num_classes
    # the head, the data preprocessor and every dataset that states a class count agree
    assert model_config(cfg).data_preprocessor.get('num_classes', head_classes) == head_classes
    for key, ds in _dataset_cfgs(cfg):
        if 'num_classes' in ds:
            assert ds['num_classes'] == head_classes, (key, ds['num_classes'], head_classes)
    linears = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and linears[-1].out_features == head_classes
