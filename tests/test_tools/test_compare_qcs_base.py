"""tools/analysis/compare_qcs_base.py: its overrides hit existing config keys; metrics parsing."""
import importlib.util
import json
import os.path as osp

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
spec = importlib.util.spec_from_file_location(
    'compare_qcs_base', osp.join(ROOT, 'tools/analysis/compare_qcs_base.py'))
cmp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cmp)


def _get(cfg, dotted):
    for k in dotted.split('.'):
        cfg = cfg[k]
    return cfg


@pytest.mark.parametrize('variant', sorted(cmp.VARIANTS))
def test_overrides_target_existing_keys(variant, tmp_path):
    args = cmp.parse_args(['--epochs', '3', '--num-samples', '96', '--val-samples', '32',
                           '--lr', '1e-4'])
    cmd = cmp.train_command(variant, args, 7, str(tmp_path))
    assert cmd[1].endswith('tools/train.py') and cmd[cmd.index('--seed') + 1] == '7'
    cfg = Config.fromfile(cmd[2])
    opts = cmd[cmd.index('--cfg-options') + 1:]
    extra = cmp.VARIANTS[variant][2]  # these add keys on purpose (optimizer wrapper options)
    for opt in opts:
        if opt not in extra:
            _get(cfg, opt.split('=', 1)[0])  # KeyError if the override would create a new key
    cfg.merge_from_dict({k: (int(v) if v.isdigit() else v) for k, v in
                         (o.split('=', 1) for o in opts)})
    assert float(cfg.optim_wrapper.optimizer.lr) == 1e-4
    assert cfg.train_cfg.max_epochs == 3 and cfg.param_scheduler.T_max == 3
    assert _get(cfg.train_dataloader, cmp.VARIANTS[variant][1]).num_samples == 96
    assert cfg.val_dataloader.dataset.num_samples == 32
    sam = variant != 'base'
    assert (cfg.optim_wrapper.get('type') == 'SAMOptimWrapper') == sam


def test_read_and_summarise(tmp_path):
    run = tmp_path / '20250101_000000' / 'vis_data'
    run.mkdir(parents=True)
    rows = [dict(lr=0.1, loss=1.0, step=1),
            {'fer/accuracy': 50.0, 'fer/mean_class_accuracy': 40.0, 'step': 1},
            {'fer/accuracy': 70.0, 'fer/mean_class_accuracy': 35.0, 'step': 2},
            {'fer/accuracy': 60.0, 'fer/mean_class_accuracy': 45.0, 'step': 3}]
    (run / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in rows))
    s = cmp.summarise(cmp.read_val_metrics(str(tmp_path)))
    assert (s['epochs'], s['acc_last'], s['acc_best'], s['mca_last'], s['mca_best']) == \
        (3, 60.0, 70.0, 45.0, 45.0)
    table = cmp.markdown([dict(variant='qcs', seed=0, wall_s=12.3, train_params=10,
                               inference_params=5, **s)])
    assert '| qcs | 0 | 3 | 60.00 | 70.00 | 45.00 | 45.00 | 12 | 10 | 5 |' in table
    with pytest.raises(FileNotFoundError):
        cmp.read_val_metrics(str(tmp_path / 'none'))
