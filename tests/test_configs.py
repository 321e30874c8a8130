"""Every shipped config parses, builds its model, and agrees with itself on the class count."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmfer.apis import build_model, model_config
from mmfer.utils import count_parameters

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p.split(osp.sep))
pytestmark = pytest.mark.usefixtures('one_thread')

# (registered, model, inference) parameter counts of every shipped config, computed once by
# building each one with mmfer.apis.build_model on the tree of commit cfa4aa5 (script: for each
# config, sum(p.numel() for p in model.parameters()), mmfer.utils.count_parameters(model) and
# count_parameters(model.inference_model()) for the multi-view classifiers):
#   registered: every parameter, incl. loss state (DAN's K x 512 affinity centers) and the
#               training-only branches (QCS / DCS cross stage);
#   model:      loss state excluded (what papers and docs/model_zoo.md call "params");
#   inference:  the network that predicts (the base network of a multi-view classifier).
# A changed count is either a bug or a model change: update the entry and say why in the commit.
PARAMS = {
    'baseline/r18_rafdb.py': (11_180_103, 11_180_103, 11_180_103),
    'baseline/r18_synthfer.py': (2_800_679, 2_800_679, 2_800_679),
    'baseline/r18_synthfer_device-aug.py': (2_800_679, 2_800_679, 2_800_679),
    'baseline/r18_synthfer_otf.py': (2_800_679, 2_800_679, 2_800_679),
    'dacfer/baseline_r50_affectnet7.py': (23_522_375, 23_522_375, 23_522_375),
    'dacfer/baseline_r50_rafdb.py': (23_522_375, 23_522_375, 23_522_375),
    'dacfer/baseline_r50_rafdb_noise10.py': (23_522_375, 23_522_375, 23_522_375),
    'dacfer/baseline_r50_rafdb_noise20.py': (23_522_375, 23_522_375, 23_522_375),
    'dacfer/baseline_r50_rafdb_noise30.py': (23_522_375, 23_522_375, 23_522_375),
    'dacfer/baseline_r50_synthfer.py': (1_484_567, 1_484_567, 1_484_567),
    'dacfer/baseline_r50_synthfer_noise30.py': (1_484_567, 1_484_567, 1_484_567),
    'dacfer/dacfer_se50_affectnet7.py': (26_053_367, 26_053_367, 26_053_367),
    'dacfer/dacfer_se50_rafdb.py': (26_053_367, 26_053_367, 26_053_367),
    'dacfer/dacfer_se50_rafdb_independent.py': (26_053_367, 26_053_367, 26_053_367),  # cfa4aa5
    'dacfer/dacfer_se50_rafdb_noise10.py': (26_053_367, 26_053_367, 26_053_367),
    'dacfer/dacfer_se50_rafdb_noise10_eac.py': (26_053_367, 26_053_367, 26_053_367),
    'dacfer/dacfer_se50_rafdb_noise20.py': (26_053_367, 26_053_367, 26_053_367),
    'dacfer/dacfer_se50_rafdb_noise20_eac.py': (26_053_367, 26_053_367, 26_053_367),
    'dacfer/dacfer_se50_rafdb_noise30.py': (26_053_367, 26_053_367, 26_053_367),
    'dacfer/dacfer_se50_rafdb_noise30_eac.py': (26_053_367, 26_053_367, 26_053_367),
    'dacfer/dacfer_se50_synthfer.py': (1_647_311, 1_647_311, 1_647_311),
    'dacfer/dacfer_se50_synthfer_noise30.py': (1_647_311, 1_647_311, 1_647_311),
    'dacfer/lac_se50_affectnet7.py': (26_053_367, 26_053_367, 26_053_367),
    'dacfer/lac_se50_rafdb.py': (26_053_367, 26_053_367, 26_053_367),
    'dacfer/lac_se50_rafdb_noise10.py': (26_053_367, 26_053_367, 26_053_367),
    'dacfer/lac_se50_rafdb_noise20.py': (26_053_367, 26_053_367, 26_053_367),
    'dacfer/lac_se50_rafdb_noise30.py': (26_053_367, 26_053_367, 26_053_367),
    'dacfer/lac_se50_synthfer.py': (1_647_311, 1_647_311, 1_647_311),
    'dacfer/lac_se50_synthfer_noise30.py': (1_647_311, 1_647_311, 1_647_311),
    'dan/dan_r18_affectnet7.py': (19_727_317, 19_723_733, 19_723_733),
    'dan/dan_r18_affectnet8.py': (19_728_344, 19_724_248, 19_724_248),
    'dan/dan_r18_rafdb.py': (19_727_829, 19_723_733, 19_723_733),
    'dan/dan_r18_rafdb_device-aug.py': (19_727_829, 19_723_733, 19_723_733),
    'dan/dan_r18_sfew.py': (19_727_829, 19_723_733, 19_723_733),
    'dan/dan_r18_synthfer.py': (4_944_629, 4_942_581, 4_942_581),
    'lan/baseline_r18_synthfer_pose30.py': (2_800_679, 2_800_679, 2_800_679),
    'lan/baseline_r18_synthfer_pose45.py': (2_800_679, 2_800_679, 2_800_679),
    'lan/lan_r18_affectnet8.py': (12_730_825, 12_730_825, 12_730_825),
    'lan/lan_r18_affectnet8_fusion_avg.py': (12_730_825, 12_730_825, 12_730_825),
    'lan/lan_r18_affectnet8_fusion_concat.py': (12_734_921, 12_734_921, 12_734_921),
    'lan/lan_r18_affectnet8_pose30.py': (12_730_825, 12_730_825, 12_730_825),
    'lan/lan_r18_affectnet8_pose45.py': (12_730_825, 12_730_825, 12_730_825),
    'lan/lan_r18_ferplus.py': (12_730_825, 12_730_825, 12_730_825),
    'lan/lan_r18_ferplus_pose30.py': (12_730_825, 12_730_825, 12_730_825),
    'lan/lan_r18_ferplus_pose45.py': (12_730_825, 12_730_825, 12_730_825),
    'lan/lan_r18_kdef.py': (12_730_312, 12_730_312, 12_730_312),
    'lan/lan_r18_rafdb.py': (12_730_312, 12_730_312, 12_730_312),
    'lan/lan_r18_rafdb_pose30.py': (12_730_312, 12_730_312, 12_730_312),
    'lan/lan_r18_rafdb_pose45.py': (12_730_312, 12_730_312, 12_730_312),
    'lan/lan_r18_synthfer.py': (3_188_712, 3_188_712, 3_188_712),
    'lan/lan_r18_synthfer_pose30.py': (3_188_712, 3_188_712, 3_188_712),
    'lan/lan_r18_synthfer_pose45.py': (3_188_712, 3_188_712, 3_188_712),
    'landmarks/mobilefacenet_synthfer.py': (290_768, 290_768, 290_768),
    'landmarks/mobilefacenet_synthfer_64.py': (282_320, 282_320, 282_320),
    'pcda/pcda_ir50_affectnet7.py': (34_432_343, 34_432_343, 34_432_343),
    'pcda/pcda_ir50_ferplus.py': (34_433_112, 34_433_112, 34_433_112),
    'pcda/pcda_ir50_rafdb.py': (34_432_343, 34_432_343, 34_432_343),
    'pcda/pcda_ir50_rafdb_heatmap-abs-sum.py': (34_432_343, 34_432_343, 34_432_343),
    'pcda/pcda_ir50_rafdb_heatmap-conv.py': (34_465_367, 34_465_367, 34_465_367),
    'pcda/pcda_ir50_rafdb_heatmap-sum.py': (34_432_343, 34_432_343, 34_432_343),
    'pcda/pcda_ir50_rafdb_table1-c.py': (34_432_343, 34_432_343, 34_432_343),
    'pcda/pcda_ir50_rafdb_table1-cn.py': (34_432_343, 34_432_343, 34_432_343),
    'pcda/pcda_ir50_rafdb_table1-d.py': (34_332_503, 34_332_503, 34_332_503),
    'pcda/pcda_ir50_rafdb_table1-dc.py': (34_432_343, 34_432_343, 34_432_343),
    'pcda/pcda_ir50_rafdb_table1-dn.py': (34_332_503, 34_332_503, 34_332_503),
    'pcda/pcda_ir50_rafdb_table1-n.py': (33_325_255, 33_325_255, 33_325_255),
    'pcda/pcda_ir50_rafdb_table1-none.py': (33_325_255, 33_325_255, 33_325_255),
    'pcda/pcda_ir50_synthfer.py': (1_843_463, 1_843_463, 1_843_463),
    'pcda/pcda_ir50_synthfer_no-neaa.py': (1_843_463, 1_843_463, 1_843_463),
    'pcda/pcda_ir50_synthfer_no-product.py': (1_843_463, 1_843_463, 1_843_463),
    'pcda/pcda_ir50_synthfer_no-product-no-neaa.py': (1_843_463, 1_843_463, 1_843_463),
    'qcs/dcs_affectnet7.py': (66_810_510, 66_810_510, 40_700_039),
    'qcs/dcs_affectnet8.py': (66_812_048, 66_812_048, 40_700_808),
    'qcs/dcs_ferplus.py': (66_812_048, 66_812_048, 40_700_808),
    'qcs/dcs_rafdb.py': (66_810_510, 66_810_510, 40_700_039),
    'qcs/dcs_synthfer.py': (2_338_606, 2_338_606, 1_604_007),
    'qcs/poster_base_rafdb.py': (40_700_039, 40_700_039, 40_700_039),
    'qcs/poster_base_synthfer.py': (1_604_007, 1_604_007, 1_604_007),
    'qcs/qcs_affectnet7.py': (66_810_513, 66_810_513, 40_700_039),
    'qcs/qcs_affectnet8.py': (66_812_051, 66_812_051, 40_700_808),
    'qcs/qcs_affectnet8_extra-minority.py': (66_812_051, 66_812_051, 40_700_808),
    'qcs/qcs_ferplus.py': (66_812_051, 66_812_051, 40_700_808),
    'qcs/qcs_ferplus_ft-affectnet8.py': (66_812_051, 66_812_051, 40_700_808),
    'qcs/qcs_rafdb.py': (66_810_513, 66_810_513, 40_700_039),
    'qcs/qcs_rafdb_ft-affectnet8.py': (66_810_513, 66_810_513, 40_700_039),
    'qcs/qcs_synthfer.py': (2_338_609, 2_338_609, 1_604_007),
}

# the figures the specs and docs state, checked against the table (and so against the builds)
DOCUMENTED = [
    # specs/dan.md §5 and docs/model_zoo.md: DAN, 4 heads, 7 classes; + 8 x 512 affinity centers
    ('dan/dan_r18_rafdb.py', 'model', 19_723_733),
    ('dan/dan_r18_rafdb.py', 'registered', 19_723_733 + 8 * 512),  # docs/analysis_tools.md
    ('dan/dan_r18_affectnet8.py', 'model', 19_724_248),  # specs/dan.md: C = 8
    ('baseline/r18_rafdb.py', 'model', 11_180_103),  # docs/model_zoo.md: 11,176,512 + fc 3,591
    # specs/qcs.md §9 and docs/model_zoo.md: QCS / DCS training and inference
    ('qcs/qcs_rafdb.py', 'inference', 40_700_039),
    ('qcs/qcs_rafdb.py', 'registered', 66_810_513),  # = 40,700,039 + 8,390,407 + 3 x 5,906,689
    ('qcs/dcs_rafdb.py', 'inference', 40_700_039),
    ('qcs/dcs_rafdb.py', 'registered', 66_810_510),
    ('qcs/poster_base_rafdb.py', 'model', 40_700_039),
    ('qcs/qcs_ferplus.py', 'inference', 40_700_808),  # specs/qcs.md: K = 8
]
KINDS = ('registered', 'model', 'inference')


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
    rel = osp.relpath(path, osp.join(ROOT, 'configs'))
    inference = model.inference_model() if hasattr(model, 'inference_model') else model
    counts = (sum(p.numel() for p in model.parameters()), count_parameters(model),
              count_parameters(inference))
    assert rel in PARAMS, (f'no recorded parameter count for configs/{rel}: add '
                           f"'{rel}': {counts} to PARAMS in tests/test_configs.py")
    assert counts == PARAMS[rel], f'configs/{rel}: (registered, model, inference) = {counts}'
    linears = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)]
    if 'num_classes' not in cfg.model.head:
        # a regression model (configs/landmarks/): LandmarkHead predicts L x 2 coordinates
        assert cfg.model.head.type == 'LandmarkHead', f'configs/{rel}: no head.num_classes'
        num_landmarks = cfg.model.head.num_landmarks
        with torch.no_grad():
            out = model.head(dict(feat=torch.zeros(2, model.head.in_channels)))
        assert tuple(out.shape) == (2, num_landmarks, 2)
        return
    head_classes = cfg.model.head.num_classes
    # the head, the data preprocessor and every dataset that states a class count agree
    assert model_config(cfg).data_preprocessor.get('num_classes', head_classes) == head_classes
    for key, ds in _dataset_cfgs(cfg):
        if 'num_classes' in ds:
            assert ds['num_classes'] == head_classes, (key, ds['num_classes'], head_classes)
    assert linears and linears[-1].out_features == head_classes


@pytest.mark.parametrize('rel,kind,value', DOCUMENTED, ids=lambda x: str(x))
def test_documented_parameter_counts(rel, kind, value):
    """The table agrees with the numbers the specs and docs give (test_config_builds ties the
    table to the built models)."""
    assert PARAMS[rel][KINDS.index(kind)] == value
