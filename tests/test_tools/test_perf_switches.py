"""--amp / --compile / --channels-last of tools/train.py and tools/test.py, the demos' and
FERInferencer's performance arguments, and tools/analysis/bf16_accuracy.py (in-process: the
tools' main() on the tiny SynthFER config)."""
import importlib.util
import os.path as osp
import pickle

import pytest
import torch
from mmengine.config import Config

import mmfer  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')


def _tool(rel):
    spec = importlib.util.spec_from_file_location('tool_' + osp.basename(rel)[:-3],
                                                  osp.join(ROOT, rel))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_train_switches_reach_the_config():
    train = _tool('tools/train.py')
    cfg = train.merge_args(Config.fromfile(CFG), train.parse_args([CFG]))
    assert cfg.channels_last is True and cfg.compile is False and cfg.amp is None
    args = train.parse_args([CFG, '--amp', 'bf16', '--compile', 'max-autotune',
                             '--no-channels-last'])
    cfg = train.merge_args(Config.fromfile(CFG), args)
    assert cfg.amp == 'bf16' and cfg.optim_wrapper.type == 'FERAmpOptimWrapper'
    assert cfg.compile == dict(mode='max-autotune') and cfg.channels_last is False
    # the old bare flag still parses; on this CPU machine it means bf16
    args = train.parse_args([CFG, '--amp', '--compile'])
    assert args.amp is True and args.compile is True
    if not torch.cuda.is_available():
        assert train.merge_args(Config.fromfile(CFG), args).amp == 'bf16'
    with pytest.raises(SystemExit):
        train.parse_args([CFG, '--amp', 'int8'])
    # --fused-optim / --no-fused-optim (config key fused_optimizer, default False)
    assert train.merge_args(Config.fromfile(CFG), train.parse_args([CFG])).fused_optimizer is False
    cfg = train.merge_args(Config.fromfile(CFG), train.parse_args([CFG, '--fused-optim']))
    assert cfg.fused_optimizer is True
    on = Config.fromfile(CFG)
    on.fused_optimizer = True
    assert train.merge_args(on, train.parse_args([CFG, '--no-fused-optim'])).fused_optimizer \
        is False
    # tools/test.py has no such switch (no optimizer there)
    with pytest.raises(SystemExit):
        _tool('tools/test.py').parse_args([CFG, 'x.pth', '--fused-optim'])


def test_test_tool_amp_bf16_runs_under_autocast_on_cpu(tmp_path):
    """tools/test.py --amp bf16 on CPU: same checkpoint, scores within bf16 rounding of the
    fp32 run and not identical to them (they were computed in bf16), stored as float32."""
    from mmfer.apis import build_model
    torch.manual_seed(0)
    model = build_model(Config.fromfile(CFG), 'cpu')
    ckpt = tmp_path / 'w.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    test = _tool('tools/test.py')
    preds = {}
    for name, extra in (('fp32', []), ('bf16', ['--amp', 'bf16'])):
        out = tmp_path / f'{name}.pkl'
        metrics = test.main([CFG, str(ckpt), '--work-dir', str(tmp_path / name), '--out',
                             str(out), '--no-figure', *extra])
        assert 'fer/accuracy' in metrics
        preds[name] = torch.stack([torch.as_tensor(p['pred_score'])
                                   for p in pickle.load(open(out, 'rb'))])
    assert preds['bf16'].dtype == torch.float32 and preds['bf16'].shape == (16, 7)
    d = float((preds['bf16'] - preds['fp32']).abs().max())
    assert 0 < d < 0.05, d


def test_demo_and_inferencer_performance_arguments():
    from types import SimpleNamespace

    from mmfer.utils.performance import inferencer_options
    demo = _tool('demo/image_demo.py')
    args = demo.parse_args(['img.jpg', CFG, '--amp', '--no-channels-last'])
    assert inferencer_options(args, 'cpu') == dict(channels_last=False, compile=False,
                                                   amp='bf16')
    assert inferencer_options(args, 'cuda:0')['amp'] == 'fp16'
    ns = SimpleNamespace(amp=None, compile='max-autotune', channels_last=None)
    assert inferencer_options(ns) == dict(channels_last=True, compile=dict(mode='max-autotune'),
                                          amp=None)


def _classify_fp32_and(amp):
    """Max score difference of three crops under ``amp`` vs fp32, channels_last on."""
    import numpy as np

    from mmfer.apis import FERInferencer, init_model
    fer = FERInferencer(init_model(CFG, None, 'cpu'), detector='whole_image', amp=amp,
                        input_size=32)
    assert fer.model.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    crops = [np.random.RandomState(i).randint(0, 256, (32, 32, 3), dtype=np.uint8)
             for i in range(3)]
    out16 = fer.classify(crops)
    fer.amp = None
    out32 = fer.classify(crops)
    assert all(isinstance(s, float) for r in out16 for s in r['pred_scores'])
    return max(abs(a - b) for r16, r32 in zip(out16, out32)
               for a, b in zip(r16['pred_scores'], r32['pred_scores']))


def test_inferencer_fp16_on_a_cpu_with_native_fp16(cpu_with_fp16):
    # fp16 has 10 mantissa bits (bf16 7): closer to fp32 than bf16, but not equal
    assert 0 < _classify_fp32_and('fp16') < 0.01


def test_inferencer_channels_last_and_bf16_classify(cpu_without_fp16):
    from mmfer.apis import FERInferencer
    assert 0 < _classify_fp32_and('bf16') < 0.05
    with pytest.raises(ValueError, match='fp16 is refused on this CPU'):
        FERInferencer(CFG, detector='whole_image', amp='fp16', input_size=32)


def test_bf16_accuracy_script_on_random_weights(tmp_path):
    tool = _tool('tools/analysis/bf16_accuracy.py')
    res = tool.main([CFG, '--random-weights', '--num-images', '8', '--batch-size', '4',
                     '--out', str(tmp_path / 'r.json')])
    assert res['num_images'] == 8
    assert 0 < res['logits_max_abs_diff'] < 0.1
    assert 0 <= res['top1_changed_pct'] <= 100
    assert 0 <= res['acc_fp32'] <= 100 and 0 <= res['acc_bf16'] <= 100
    assert osp.getsize(tmp_path / 'r.json') > 0
    with pytest.raises(SystemExit):
        tool.parse_args([CFG])  # neither a checkpoint nor --random-weights


def test_bf16_accuracy_script_fp16(cpu_with_fp16):
    tool = _tool('tools/analysis/bf16_accuracy.py')
    res = tool.main([CFG, '--random-weights', '--amp', 'fp16', '--num-images', '8',
                     '--batch-size', '4'])
    assert res['amp'] == 'fp16' and set(res['model_seconds']) == {'fp32', 'fp16'}
    assert 0 < res['logits_max_abs_diff'] < 0.01 and 0 <= res['acc_fp16'] <= 100


def test_bf16_accuracy_script_refuses_fp16_without_native_fp16(cpu_without_fp16):
    tool = _tool('tools/analysis/bf16_accuracy.py')
    with pytest.raises(ValueError, match='fp16 is refused on this CPU'):
        tool.main([CFG, '--random-weights', '--amp', 'fp16', '--num-images', '4',
                   '--batch-size', '4'])
