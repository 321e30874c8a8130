"""The analysis tools, each run as a subprocess on tiny data (tools rot otherwise).

Every tool's --help is checked against the documented options in test_tool_help.py.
"""
import json
import os
import os.path as osp
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATA = osp.join(ROOT, 'tests', 'data')
CONFIGS = osp.join(DATA, 'configs')
TOOLS = osp.join(ROOT, 'tools', 'analysis')


def run_tool(name, *args, timeout=120):
    env = dict(os.environ)
    # the tiny test models are imported by the configs' custom_imports
    env['PYTHONPATH'] = os.pathsep.join([DATA, ROOT, env.get('PYTHONPATH', '')])
    env['OMP_NUM_THREADS'] = '1'
    proc = subprocess.run([sys.executable, osp.join(TOOLS, name), *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f'{name} failed:\n{proc.stdout}\n{proc.stderr}'
    return proc.stdout


def load_tool(name):
    """Import a tool script as a module (its ``main(argv)`` is importable)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f'tool_{name[:-3]}', osp.join(TOOLS, name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def png_size(path):
    """(width, height) from the PNG IHDR chunk."""
    with open(path, 'rb') as f:
        head = f.read(24)
    assert head[:8] == b'\x89PNG\r\n\x1a\n', f'{path} is not a PNG'
    return struct.unpack('>II', head[16:24])


def test_get_flops_hand_computable(tmp_path):
    out = tmp_path / 'flops.json'
    stdout = run_tool('get_flops.py', osp.join(CONFIGS, 'tiny_conv.py'), '--shape', 8,
                      '--out', out)
    res = json.loads(out.read_text())
    conv, fc = 8 * 8 * 4 * 3 * 9, 4 * 5  # Conv2d(3→4, k3) on 8×8; GAP; Linear(4→5)
    assert res['macs'] == conv + fc and res['flops'] == 2 * (conv + fc)
    assert res['macs_by_op'] == {'convolution': conv, 'addmm': fc}
    top = {r['name']: r for r in res['top_level']}
    assert top['backbone']['macs'] == conv and top['head']['macs'] == fc
    assert top['backbone']['params_inference'] == 4 * 3 * 9 + 4
    assert res['params']['inference'] == res['params']['registered'] == 137
    assert f'{conv + fc:,}' in stdout


def test_get_flops_excludes_training_only_branch(tmp_path):
    out = tmp_path / 'flops.json'
    stdout = run_tool('get_flops.py', osp.join(CONFIGS, 'tiny_two_branch.py'), '--shape', 32,
                      '--per-module', '--depth', 2, '--out', out)
    res = json.loads(out.read_text())
    mods = {m['name']: m for m in res['modules']}
    assert not mods['cross']['executed'] and mods['cross']['params_registered'] == 64 * 64 + 64
    p = res['params']
    assert p['registered'] - p['inference'] == 64 * 64 + 64
    assert sorted(res['unread_params']) == ['cross.bias', 'cross.weight']
    # every MAC lies in backbone or head; the head is Linear(64→7)
    assert mods['backbone']['macs'] + mods['head']['macs'] == res['macs']
    assert mods['head']['macs'] == 64 * 7
    assert 'backbone.layer4' in stdout  # --per-module rows


def test_benchmark_side_by_side_with_train(tmp_path):
    out = tmp_path / 'bench.json'
    stdout = run_tool('benchmark.py', osp.join(CONFIGS, 'tiny_r18.py'),
                      osp.join(CONFIGS, 'tiny_two_branch.py'), '--shape', 32, '--train',
                      '--batch-size', 2, '--train-batch-size', 4, '--warmup', 1, '--iters', 3,
                      '--num-threads', 1, '--no-memory', '--out', out)
    # (memory: one fresh process per config and phase, ~8 s each; measured in
    # test_benchmark_suite.py::test_cpu_memory_of_a_training_step_after_compile_and_backward)
    res = json.loads(out.read_text())
    assert res['environment']['num_threads'] == 1
    first, second = res['results']
    assert first['inference']['throughput_ratio'] == 1.0
    for r in res['results']:
        inf, tr = r['inference'], r['train']
        assert inf['peak_mib'] is None and tr['peak_mib'] is None
        assert inf['batch_size'] == 2 and inf['iters'] == 3
        assert inf['latency_ms_p90'] >= inf['latency_ms_median'] > 0
        # throughput = batch / median call time = 1000 / median ms per image
        assert inf['throughput_img_s'] == pytest.approx(1000 / inf['latency_ms_median'],
                                                         rel=1e-6)
        assert tr['throughput_samples_s'] == pytest.approx(4 * 1000 / tr['step_ms_median'])
    assert second['inference']['throughput_ratio'] == pytest.approx(
        second['inference']['throughput_img_s'] / first['inference']['throughput_img_s'])
    assert first['train']['num_views'] == 1 and second['train']['num_views'] == 2
    assert second['train']['throughput_img_s'] == pytest.approx(
        2 * second['train']['throughput_samples_s'])
    # the two-branch model's training-only Linear(64→64) is not an inference parameter
    assert second['params'] == first['params']
    assert second['params_model'] - first['params_model'] == 64 * 64 + 64
    assert '| tests/data/configs/tiny_two_branch.py |' in stdout.replace(ROOT + '/', '')


def test_benchmark_random_batch_fields():
    from mmfer.registry import MODELS
    tool = load_tool('benchmark.py')
    model = MODELS.build(dict(
        type='FERClassifier', data_preprocessor=dict(num_classes=3),
        backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
        head=dict(type='FERClsHead', num_classes=3, in_channels=64)))
    data = tool.random_batch(model, 5, (16, 12), num_views=4, label_fields=['neg_label'])
    assert data['inputs'].shape == (5, 4, 3, 16, 12) and data['inputs'].dtype == torch.uint8
    assert len(data['data_samples']) == 5
    for ds in data['data_samples']:
        assert 0 <= int(ds.gt_label) < 3 and 0 <= int(ds.neg_label) < 3
        assert ds.neg_label.shape == (1, )
    assert tool.random_batch(model, 2, (8, 8))['inputs'].shape == (2, 3, 8, 8)
    # the fields a model lists (FERClassifier: those its losses declare) come first
    assert tool.train_label_fields(model, ['neg_label']) == ['neg_label']
    from types import SimpleNamespace
    declared = SimpleNamespace(train_label_fields=('aux', ))
    assert tool.train_label_fields(declared, ['neg_label', 'aux']) == ['aux', 'neg_label']


def write_scalars(path, lines):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        for rec in lines:
            f.write(json.dumps(rec) + '\n')


def train_line(epoch, it, loss, time):
    # the exact keys mmengine 0.10 writes for a training iteration (CPU: no `memory`)
    return {'lr': 0.05, 'data_time': 0.01, 'loss': loss, 'loss_ce': loss, 'time': time,
            'epoch': epoch, 'iter': it, 'step': it}


def val_line(epoch, acc, mca):
    return {'fer/accuracy': acc, 'fer/mean_class_accuracy': mca, 'fer/macro_f1': mca,
            'data_time': 0.002, 'time': 0.01, 'step': epoch}


def test_analyze_logs_plot_curve_and_train_time(tmp_path):
    work_dir = tmp_path / 'work'
    run1 = [train_line(1, 2, 1.0, 0.5), train_line(1, 4, 0.8, 0.2), val_line(1, 40.0, 30.0),
            train_line(2, 6, 0.7, 0.4), train_line(2, 8, 0.6, 0.6)]
    # resumed run (later timestamp) repeats iteration 8 and continues
    run2 = [train_line(2, 8, 0.55, 0.3), val_line(2, 50.0, 45.0), train_line(3, 10, 0.5, 0.3)]
    write_scalars(str(work_dir / '20260101_000000' / 'vis_data' / 'scalars.json'), run1)
    write_scalars(str(work_dir / '20260102_000000' / 'vis_data' / 'scalars.json'), run2)

    png = tmp_path / 'curves.png'
    stdout = run_tool('analyze_logs.py', 'plot_curve', work_dir, '--keys', 'loss', 'loss_ce',
                      'fer/accuracy', 'fer/mean_class_accuracy', '--out', png)
    # 4 panels, 2 per row, 6×3.5 in each at 100 dpi
    assert png_size(png) == (1200, 700)
    assert 'loss: 5 points, last 0.5000 at step 10' in stdout
    assert 'fer/mean_class_accuracy: 2 points, last 45.0000 at step 2' in stdout

    # cal_train_time in-process (the subprocess above covers the script's start-up)
    stats = load_tool('analyze_logs.py').main(
        ['cal_train_time', str(work_dir / '20260101_000000' / 'vis_data' / 'scalars.json')])[0]
    # first line skipped: epoch 1 → 0.2, epoch 2 → (0.4 + 0.6) / 2 = 0.5
    assert stats['epoch_means'] == pytest.approx({1: 0.2, 2: 0.5})
    assert stats['slowest_epoch'] == 2 and stats['fastest_epoch'] == 1
    assert stats['std_over_epochs'] == pytest.approx(0.15)
    assert stats['mean_iter_time'] == pytest.approx((0.2 + 0.4 + 0.6) / 3)
    # whole work dir (resumed run included), first line kept
    stats = load_tool('analyze_logs.py').main(['cal_train_time', str(work_dir),
                                               '--include-first'])[0]
    assert stats['epoch_means'] == pytest.approx({1: 0.35, 2: (0.4 + 0.6 + 0.3) / 3, 3: 0.3})


def test_curves_module_series(tmp_path):
    from mmfer.visualization.curves import plot_curves
    log = tmp_path / 'scalars.json'
    write_scalars(str(log), [train_line(1, 1, 2.0, 0.1), val_line(1, 10.0, 5.0),
                             train_line(1, 2, 1.5, 0.1)])
    series = plot_curves(str(log), str(tmp_path / 'c.png'))  # default keys
    assert list(series) == ['loss', 'loss_ce', 'fer/accuracy', 'fer/mean_class_accuracy']
    assert series['loss'] == ([1, 2], [2.0, 1.5])
    assert series['fer/accuracy'] == ([1], [10.0])
    with pytest.raises(KeyError, match='not found in the log'):
        plot_curves(str(log), str(tmp_path / 'd.png'), keys=['nope'])
    (tmp_path / 'bad.json').write_text('{"step": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r'bad.json:2'):
        plot_curves(str(tmp_path / 'bad.json'), str(tmp_path / 'e.png'))


def write_predictions(path, gts, preds, num_classes):
    """A DumpResults pickle, the way tools/test.py --out writes it."""
    import mmengine
    from mmpretrain.structures import DataSample
    results = []
    for g, p in zip(gts, preds):
        score = torch.full((num_classes, ), 0.1)
        score[p] = 0.9
        ds = DataSample().set_gt_label(g).set_pred_label(torch.tensor([p])).set_pred_score(score)
        ds.set_metainfo(dict(img_path=f'img_{len(results)}.png'))
        results.append(ds.to_dict())
    mmengine.dump(results, str(path))


def test_confusion_matrix_tool(tmp_path):
    gts = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    preds = [0, 1, 0, 1, 1, 2, 0, 2, 1]
    pkl = tmp_path / 'preds.pkl'
    write_predictions(pkl, gts, preds, 3)
    png, js = tmp_path / 'cm.png', tmp_path / 'cm.json'
    stdout = run_tool('confusion_matrix.py', pkl, '--out', png, '--classes', 'happy', 'sad',
                      'neutral', '--save-json', js)
    res = json.loads(js.read_text())
    hand = np.zeros((3, 3), dtype=int)
    for g, p in zip(gts, preds):
        hand[g, p] += 1
    assert res['confusion_matrix'] == hand.tolist() == [[2, 1, 0], [0, 2, 0], [1, 1, 2]]
    assert res['classes'] == ['happy', 'sad', 'neutral']
    assert res['accuracy'] == pytest.approx(100 * 6 / 9)
    assert res['mean_class_accuracy'] == pytest.approx(100 * (2 / 3 + 1 + 2 / 4) / 3)
    assert res['row_percent'][2] == pytest.approx([25.0, 25.0, 50.0])
    from mmfer.visualization.confusion_matrix import figure_size_inches
    side = int(round(figure_size_inches(3) * 100))
    assert png_size(png) == (side, side)
    assert 'accuracy: 66.67' in stdout

    # class names from a json file (in-process through the tool's importable main)
    (tmp_path / 'classes.json').write_text(json.dumps({'classes': ['a', 'b', 'c']}))
    tool = load_tool('confusion_matrix.py')
    res = tool.main([str(pkl), '--out', str(tmp_path / 'cm2.png'), '--classes-json',
                     str(tmp_path / 'classes.json')])
    assert res['classes'] == ['a', 'b', 'c'] and res['confusion_matrix'] == hand.tolist()
    # without names the indices are used
    assert tool.main([str(pkl), '--out', str(tmp_path / 'cm3.png')])['classes'] == \
        ['0', '1', '2']


def test_confusion_matrix_module(tmp_path):
    import pickle

    from mmfer.visualization.confusion_matrix import (load_predictions, normalize_rows,
                                                      plot_confusion_matrix)
    assert normalize_rows(np.array([[1, 3], [0, 0]])).tolist() == [[25.0, 75.0], [0.0, 0.0]]
    with pytest.raises(ValueError, match='2 class names for a 3-class'):
        plot_confusion_matrix(np.eye(3), ['a', 'b'], str(tmp_path / 'x.png'))

    class Evil:
        def __reduce__(self):
            return (os.system, ('echo pwned',))

    bad = tmp_path / 'evil.pkl'
    bad.write_bytes(pickle.dumps([Evil()]))
    with pytest.raises(pickle.UnpicklingError, match='refusing to unpickle'):
        load_predictions(str(bad))


def test_print_config(tmp_path):
    saved = tmp_path / 'resolved.py'
    stdout = run_tool('print_config.py', osp.join(CONFIGS, 'tiny_two_branch.py'),
                      '--cfg-options', 'model.head.num_classes=5', '--save', saved)
    assert "type='TinyTwoBranchClassifier'" in stdout  # child overrides the base
    assert 'base_channels=8' in stdout  # inherited from tiny_r18.py
    assert 'num_classes=5' in stdout
    from mmengine.config import Config
    cfg = Config.fromfile(str(saved), import_custom_modules=False)
    assert cfg.model.head.num_classes == 5 and cfg.optim_wrapper.optimizer.type == 'Adam'
    assert 'momentum' not in cfg.optim_wrapper.optimizer


def test_benchmark_config_input_shape():
    """--shape config: each config's own test-pipeline size (PCDA 112, POSTER++ 224)."""
    from mmengine.config import Config
    tool = load_tool('benchmark.py')
    shape = tool.config_input_shape
    assert shape(Config.fromfile(osp.join(ROOT, 'configs', 'pcda', 'pcda_ir50_rafdb.py'))) == \
        [112, 112]
    assert shape(Config.fromfile(osp.join(ROOT, 'configs', 'qcs', 'poster_base_rafdb.py'))) == \
        [224, 224]
    # the last CenterCrop wins over an earlier Resize; Resize scale is (W, H)
    cfg = Config(dict(test_dataloader=dict(dataset=dict(pipeline=[
        dict(type='Resize', scale=(72, 72)), dict(type='CenterCrop', crop_size=64)]))))
    assert shape(cfg) == [64, 64]
    cfg = Config(dict(test_dataloader=dict(dataset=dict(pipeline=[
        dict(type='Resize', scale=(40, 30))]))))
    assert shape(cfg) == [30, 40]
    with pytest.raises(KeyError, match='--shape H W'):
        shape(Config(dict(test_dataloader=dict(dataset=dict(pipeline=[dict(type='Flip')])))))
    args = tool.parse_args(['x.py', '--shape', 'config'])
    assert args.shape is None
    assert tool.parse_args(['x.py', '--shape', '96']).shape == [96, 96]
    with pytest.raises(SystemExit):
        tool.parse_args(['x.py', '--shape', 'big'])
    cfg = Config(dict(val_dataloader=dict(dataset=dict(pipeline=[
        dict(type='torchvision/Resize', size=(50, 60))]))))
    assert shape(cfg) == [50, 60]


def test_overfit_batch_fits_a_fixed_batch():
    """tools/analysis/overfit_batch.py: the tiny model drives the loss on one fixed batch of
    SynthFER faces well below its first value."""
    tool = load_tool('overfit_batch.py')
    rows = tool.overfit(osp.join(CONFIGS, 'tiny_synthfer.py'), num=8, steps=30, lr=1e-2)
    assert [r[0] for r in rows] == list(range(30))
    assert rows[-1][1] < 0.5 * rows[0][1]
    assert all(r[2] > 0 for r in rows)
    assert all(r[3] > 0 for r in rows)  # the feature spread


@pytest.mark.parametrize('amp', ['bf16', 'fp16'])
def test_overfit_batch_in_mixed_precision(amp, cpu_with_fp16):
    """--amp: the same steps through FERAmpOptimWrapper also fit the batch; step 0's loss is the
    fp32 one up to the precision (before any update), the scaler's skips are reported."""
    tool = load_tool('overfit_batch.py')
    cfg = osp.join(CONFIGS, 'tiny_synthfer.py')
    info = {}
    rows = tool.overfit(cfg, num=8, steps=30, lr=1e-2, amp=amp, info=info)
    ref = tool.overfit(cfg, num=8, steps=1, lr=1e-2)
    assert rows[0][1] != ref[0][1] and rows[0][1] == pytest.approx(ref[0][1], rel=0.02)
    assert rows[-1][1] < 0.5 * rows[0][1]
    assert all(r[2] > 0 and r[2] == r[2] for r in rows)  # finite, unscaled gradient norms
    assert 0 <= info['skipped_steps'] < 30
    if amp == 'fp16':  # the norm is of the true gradient, not of the scaled one (x 65536)
        assert rows[0][2] == pytest.approx(ref[0][2], rel=0.05)


def test_overfit_batch_fresh_batches_and_spread():
    """--fresh draws new faces each step (the loss then differs from the fixed-batch run's from
    step 1 on, same step 0); feature_spread is the batch std of the head input."""
    import torch
    tool = load_tool('overfit_batch.py')
    cfg = osp.join(CONFIGS, 'tiny_synthfer.py')
    fixed = tool.overfit(cfg, num=4, steps=3, lr=1e-2)
    fresh = tool.overfit(cfg, num=4, steps=3, lr=1e-2, fresh=True)
    assert fixed[0][1] == pytest.approx(fresh[0][1], abs=1e-6)
    assert abs(fixed[1][1] - fresh[1][1]) > 1e-6

    class Const(torch.nn.Module):
        def extract_feat(self, x):
            return dict(feat=x.flatten(1))
    x = torch.tensor([[0., 2.], [2., 2.]])
    # std over the batch (unbiased, n = 2): dim 0 → 1.4142, dim 1 → 0; mean 0.7071
    assert tool.feature_spread(Const(), x) == pytest.approx(2 ** 0.5 / 2)
