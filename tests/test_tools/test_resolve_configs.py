"""tools/analysis/resolve_configs.py, run as a subprocess on a tiny configs tree."""
import json
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'analysis', 'resolve_configs.py')


def _run(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def _tree(root, size):
    (root / '_base_').mkdir(parents=True)
    (root / 'm').mkdir()
    (root / '_base_' / 'data.py').write_text(
        f"data_preprocessor = dict(num_classes=7, mean=[1, 2, 3])\n"
        f"test_pipeline = [dict(type='torchvision/Resize', size={size})]\n")
    (root / 'm' / 'a.py').write_text("_base_ = ['../_base_/data.py']\nmodel = dict(type='X')\n")
    (root / 'm' / 'b.py').write_text(
        "_base_ = ['../_base_/data.py']\n"
        "model = dict(type='X', data_preprocessor={{_base_.data_preprocessor}})\n")


def test_dump_and_compare(tmp_path):
    _tree(tmp_path / 'c1', '232')
    _tree(tmp_path / 'c2', '(232, 232)')
    for c, d in (('c1', 'd1'), ('c2', 'd2')):
        r = _run('--out', str(tmp_path / d), '--root', str(tmp_path / c))
        assert r.returncode == 0, r.stderr
        assert 'wrote 2 resolved configs' in r.stdout
    a = json.loads((tmp_path / 'd1' / 'm__a.json').read_text())
    assert a['test_pipeline'] == [{'type': 'torchvision/Resize', 'size': 232}]
    assert a['model'] == {'type': 'X'}

    same = _run('--compare', str(tmp_path / 'd1'), str(tmp_path / 'd1'))
    assert same.returncode == 0
    assert same.stdout.splitlines() == ['m/a.py: identical', 'm/b.py: identical',
                                        '2 identical, 0 different']

    r = _run('--compare', str(tmp_path / 'd1'), str(tmp_path / 'd2'))
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[:2] == ['m/a.py: 1 differing key(s)',
                         '    test_pipeline[0].size: 232 -> [232, 232]']
    assert lines[-1] == '0 identical, 2 different'

    # a.py (data preprocessor only at top level) vs b.py (stated in the model): raw views differ,
    # the Runner's view (top-level merged into the model) does not
    (tmp_path / 'd3').mkdir()
    (tmp_path / 'd3' / 'm__a.json').write_text((tmp_path / 'd1' / 'm__b.json').read_text())
    (tmp_path / 'd4').mkdir()
    (tmp_path / 'd4' / 'm__a.json').write_text((tmp_path / 'd1' / 'm__a.json').read_text())
    raw = _run('--compare', str(tmp_path / 'd3'), str(tmp_path / 'd4'))
    assert raw.returncode == 1 and 'model.data_preprocessor: {"mean": [1, 2, 3], ' in raw.stdout
    merged = _run('--compare', str(tmp_path / 'd3'), str(tmp_path / 'd4'), '--runner-view')
    assert merged.returncode == 0 and 'm/a.py: identical' in merged.stdout


def test_missing_dump_dir(tmp_path):
    r = _run('--compare', str(tmp_path / 'nope'), str(tmp_path))
    assert r.returncode != 0
    assert 'nope: no such dump directory' in r.stderr
