"""tools/analysis/benchmark_device_aug.py on SynthFER rendered on the fly (no files): the CPU
config's flip vs the same flip in FERDataPreprocessor.device_augments."""
import json
import os.path as osp

import pytest
from tool_loader import ROOT, load_tool

pytestmark = pytest.mark.usefixtures('one_thread')


def test_benchmark_device_aug(tmp_path):
    cpu_cfg = osp.join(ROOT, 'configs', 'baseline', 'r18_synthfer_otf.py')
    dev_cfg = tmp_path / 'otf_device_flip.py'
    dev_cfg.write_text(
        f"_base_ = [{cpu_cfg!r}]\n"
        "train_dataloader = dict(dataset=dict(pipeline=[dict(type='PackInputs')]))\n"
        "data_preprocessor = dict(type='FERDataPreprocessor', seed=0,\n"
        "                         device_augments=[dict(type='BatchHorizontalFlip', prob=0.5)])\n")
    out = tmp_path / 'r.json'
    tool = load_tool('tools/analysis/benchmark_device_aug.py')
    res = tool.main([cpu_cfg, str(dev_cfg), '--num-images', '4', '--batch-size', '2',
                     '--rounds', '1', '--out', str(out),
                     '--cfg-options', 'train_dataloader.dataset.num_samples=8'])
    assert json.loads(out.read_text()) == res
    assert (res['num_images'], res['batch_size'], res['rounds']) == (4, 2, 1)
    pipe, pre = res['rows']
    assert (pipe['cost'], pre['cost']) == ('pipeline', 'preprocess')
    assert all(r['cpu_config_ms'] > 0 and r['device_config_ms'] > 0 for r in res['rows'])
    # one round: the saving is the difference of the two timings, the ratio their quotient
    assert res['cpu_ms_saved_per_img'] == pytest.approx(
        pipe['cpu_config_ms'] - pipe['device_config_ms'])
    assert pre['ratio'] == pytest.approx(pre['device_config_ms'] / pre['cpu_config_ms'])
    with pytest.raises(SystemExit):
        tool.parse_args([cpu_cfg, str(dev_cfg), '--rounds', '0'])
