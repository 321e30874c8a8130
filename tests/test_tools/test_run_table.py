"""tools/analysis/run_table.py: train + test the rows of a table, skip completed rows, summarise."""
import json
import os
import os.path as osp

import pytest
from tool_loader import load_tool as load_script

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = 'tests/data/configs/tiny_synthfer.py'


def load_tool():
    return load_script('tools/analysis/run_table.py')


def test_every_table_config_exists():
    tool = load_tool()
    assert set(tool.TABLES) == {'dacfer_synthfer', 'lan_synthfer', 'pcda_synthfer'}
    for rows in tool.TABLES.values():
        for r in rows:
            for cfg in [r['config']] + [c for _, c in r['tests']]:
                assert osp.isfile(osp.join(ROOT, cfg)), cfg
    # the noisy DacFER rows report memorisation, measured on their own (noisy) config
    memo = {r['name']: dict(r['tests']).get('memo') for r in tool.TABLES['dacfer_synthfer']}
    assert memo['dacfer_se50_noise30'] == 'configs/dacfer/dacfer_se50_synthfer_noise30.py'
    assert memo['dacfer_se50'] is None
    assert [lab for lab, _ in tool.TABLES['lan_synthfer'][1]['tests']] == \
        ['test', 'pose30', 'pose45']


def test_markdown_cells():
    tool = load_tool()
    rows = [dict(label='A', train_wall_s=125.4, val=dict(best=80.0, best_epoch=3,
                                                          last_k_mean=78.123),
                 tests=dict(test=dict(metrics={'fer/accuracy': 81.234,
                                               'fer/mean_class_accuracy': 80.5,
                                               'fer/macro_f1': 79.0}),
                            memo=dict(metrics={'noise/memorisation': 12.5,
                                               'noise/correction': 70.0}))),
            dict(label='B', train_wall_s=59.0, val=None,
                 tests=dict(test=dict(metrics={'fer/accuracy': 50.0})))]
    md = tool.to_markdown('t', rows)
    lines = md.strip().splitlines()
    assert lines[2] == ('| row | test acc | test mean class | test macro F1 | memo memorisation '
                        '| memo correction | val best (epoch) | val last-5 mean | train wall |')
    assert lines[4] == '| A | 81.23 | 80.50 | 79.00 | 12.50 | 70.00 | 80.00 (3) | 78.12 | 2 min 05 s |'
    assert lines[5] == '| B | 50.00 | – | – | – | – | – | – | 0 min 59 s |'


def test_unknown_row_and_listing(capsys):
    tool = load_tool()
    assert tool.main(['--list']) == 0
    assert 'no_product_no_neaa' in capsys.readouterr().out
    with pytest.raises(SystemExit, match='unknown rows'):
        tool.main(['pcda_synthfer', '--rows', 'nope'])


def test_trains_tests_and_skips_a_complete_row(tmp_path, monkeypatch, capsys):
    tool = load_tool()
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    monkeypatch.setitem(tool.TABLES, 'tiny', [tool._row('tiny', TINY, [('test', TINY)], 'Tiny')])
    root = str(tmp_path)
    assert tool.main(['tiny', '--work-root', root]) == 0
    work = osp.join(root, 'tiny', 'tiny')
    wall = json.load(open(osp.join(work, 'train_wall.json')))
    assert wall['returncode'] == 0 and wall['train_wall_s'] > 0
    table = json.load(open(osp.join(root, 'tiny', 'table.json')))
    (row, ) = table['rows']
    acc = row['tests']['test']['metrics']['fer/accuracy']
    assert 0.0 <= acc <= 100.0
    assert row['checkpoint'].endswith('.pth') and osp.isfile(osp.join(ROOT, row['checkpoint']))
    md = open(osp.join(root, 'tiny', 'table.md')).read()
    assert f'| Tiny | {acc:.2f} |' in md
    # the validation records give the best epoch and the last-k mean
    assert row['val']['num_epochs'] >= 1
    mtime = os.path.getmtime(osp.join(work, 'train_wall.json'))
    capsys.readouterr()
    assert tool.main(['tiny', '--work-root', root]) == 0
    assert 'complete run' in capsys.readouterr().out
    assert os.path.getmtime(osp.join(work, 'train_wall.json')) == mtime
    # a failed training is reported, not summarised
    bad = tmp_path / 'bad.py'
    bad.write_text(f"_base_ = [{osp.join(ROOT, TINY)!r}]\nmodel = dict(type='NoSuchModel')\n")
    monkeypatch.setitem(tool.TABLES, 'broken', [tool._row('b', str(bad), [('test', TINY)])])
    with pytest.raises(SystemExit, match='training .* failed'):
        tool.main(['broken', '--work-root', root])
    assert json.load(open(osp.join(root, 'broken', 'b', 'train_wall.json')))['returncode'] != 0
