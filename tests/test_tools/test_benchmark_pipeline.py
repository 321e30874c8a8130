"""tools/analysis/benchmark_pipeline.py: as a subprocess on a tiny config (prints the table),
and in-process for the resize-only comparison, the JSON output and the errors."""
import json
import os.path as osp
import subprocess
import sys

import pytest
from tool_loader import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = 'tools/analysis/benchmark_pipeline.py'
TINY = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')

# SynthFER rendered at 40 px, resized to 48 (an upsampling, as RAF-DB 100 → 224)
CONFIG = """
_base_ = [{tiny!r}]
pipe = [dict(type='Resize', scale=(48, 48)), dict(type='RandomFlip', prob=0.5,
         direction='horizontal'), dict(type='PackInputs')]
train_dataloader = dict(dataset=dict(img_size=40, num_samples=8, pipeline=pipe))
test_dataloader = dict(dataset=dict(img_size=40, num_samples=8, pipeline=pipe[:1] + pipe[2:]))
"""


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp('bp') / 'tiny_resize.py'
    path.write_text(CONFIG.format(tiny=TINY))
    return str(path)


def test_subprocess_prints_table(tiny):
    out = subprocess.run(
        [sys.executable, TOOL, tiny, TINY, '--split', 'test', '--num-images', '4',
         '--rounds', '2', '--warmup', '1'],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith('| tiny')]
    assert [ln.split('|')[1].strip() for ln in lines] == ['tiny_resize', 'tiny_synthfer']
    first = [c.strip() for c in lines[0].split('|')[1:-1]]
    assert first[1] == 'config' and first[2] == '4' and first[5] == '1.00×'
    assert float(first[3]) > 0


def test_resize_only_compares_backends(tiny, tmp_path):
    bp = load_tool(TOOL)
    out = tmp_path / 'r.json'
    recs = bp.main([tiny, '--resize-backends', 'cv2', 'pillow', '--resize-only',
                    '--num-images', '3', '--rounds', '2', '--warmup', '0', '--out', str(out)])
    assert [r['backend'] for r in recs] == ['cv2', 'pillow']
    assert recs[0]['out_shape'] == (48, 48, 3) and recs[0]['ratio_to_first'] == 1.0
    assert recs[1]['max_abs_diff'] <= 1  # an upsampling: the backends agree within a level
    assert 0 < recs[1]['mean_abs_diff'] < 0.5
    assert all(r['images'] == 3 and r['rounds'] == 2 and r['ms_per_img'] > 0 for r in recs)
    assert json.loads(out.read_text())['rows'][1]['backend'] == 'pillow'
    # --resize-scale reaches every Resize; a downsampling shows PIL's antialiasing
    recs = bp.main([tiny, '--resize-backends', 'cv2', 'pillow', '--resize-only',
                    '--resize-scale', '24', '--num-images', '3', '--rounds', '1',
                    '--warmup', '0'])
    assert recs[0]['out_shape'] == (24, 24, 3) and recs[1]['max_abs_diff'] > 1


def test_config_without_resize_is_an_error():
    bp = load_tool(TOOL)
    with pytest.raises(ValueError, match='need an mmcv Resize'):
        bp.main([TINY, '--resize-backends', 'cv2', '--num-images', '1', '--rounds', '1'])
    assert bp.sample_indices(10, 4) == [0, 2, 5, 7]
    assert bp.sample_indices(2, 3) == [0, 0, 1]
