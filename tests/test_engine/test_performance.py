"""mmfer.utils.performance and FERRunner's channels_last / compile / amp plumbing."""
import copy
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from mmfer.apis import build_model
from mmfer.utils.performance import (amp_optim_wrapper_cfg, apply_performance_cfg,
                                     autocast_context, channels_last_input, check_amp,
                                     parse_amp, to_channels_last)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')
DAN = osp.join(ROOT, 'configs', 'dan', 'dan_r18_synthfer.py')
CL = torch.channels_last


def test_to_channels_last_converts_4d_tensors_in_place():
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    w = m[0].weight
    assert to_channels_last(m) is m
    assert m[0].weight is w  # same Parameter: an optimizer built before still holds it
    assert w.is_contiguous(memory_format=CL) and not w.is_contiguous()
    assert m[3].weight.is_contiguous()  # 2-D: unchanged
    # the weights alone make the convolution pick the NHWC kernel: its output is NHWC
    y = m[0](torch.randn(2, 3, 8, 8))
    assert y.is_contiguous(memory_format=CL) and not y.is_contiguous()


def test_channels_last_input_only_touches_4d_tensors():
    x = torch.randn(2, 3, 4, 5)
    y = channels_last_input(x)
    assert y.is_contiguous(memory_format=CL) and torch.equal(x, y)
    v = torch.randn(2, 3, 4)
    assert channels_last_input(v) is v
    batch = [x]
    assert channels_last_input(batch) is batch and channels_last_input(None) is None


def test_parse_and_check_amp(cpu_without_fp16):
    assert parse_amp(None) is None and parse_amp('fp32') is None and parse_amp(False) is None
    assert parse_amp('bfloat16') == 'bf16' and parse_amp('FP16') == 'fp16'
    with pytest.raises(ValueError, match="amp must be None, 'bf16' or 'fp16'"):
        parse_amp('int8')
    with pytest.raises(ValueError, match='fp16 is refused on this CPU: it has no native fp16'):
        check_amp('cpu', 'fp16')
    assert check_amp('cpu', 'bf16') == 'bf16'
    assert check_amp('cuda', 'fp16') == 'fp16'


def test_fp16_is_accepted_on_a_cpu_with_native_fp16(cpu_with_fp16):
    assert check_amp('cpu', 'fp16') == 'fp16' and check_amp('cpu', 'float16') == 'fp16'
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast_context('cpu', 'fp16'):
        assert (a @ b).dtype == torch.float16
    cfg = apply_performance_cfg(Config.fromfile(TINY), amp='fp16', device_type='cpu')
    assert cfg.amp == 'fp16' and cfg.optim_wrapper.type == 'FERAmpOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'fp16'
    # a bare --amp stays bf16 on every CPU
    assert apply_performance_cfg(Config.fromfile(TINY), amp=True, device_type='cpu').amp == 'bf16'


def test_autocast_context(cpu_without_fp16):
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast_context('cpu', None):
        assert (a @ b).dtype == torch.float32
    with autocast_context('cpu', 'bf16'):
        assert (a @ b).dtype == torch.bfloat16
    with pytest.raises(ValueError, match='fp16'):
        autocast_context('cpu', 'fp16')


def test_apply_performance_cfg_switches_and_legacy_amp(cpu_without_fp16):
    cfg = Config.fromfile(TINY)
    assert cfg.channels_last is True and cfg.compile is False and cfg.amp is None
    apply_performance_cfg(cfg, channels_last=False, compile=dict(mode='reduce-overhead'),
                          device_type='cpu')
    assert cfg.channels_last is False and cfg.compile == dict(mode='reduce-overhead')
    assert cfg.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'  # no amp: unchanged
    # the old store_true --amp: bf16 on a CPU (fp16 is refused there), fp16 on CUDA
    cpu = apply_performance_cfg(Config.fromfile(TINY), amp=True, device_type='cpu')
    assert cpu.amp == 'bf16' and cpu.optim_wrapper.type == 'FERAmpOptimWrapper'
    assert cpu.optim_wrapper.dtype == 'bf16' and 'loss_scale' not in cpu.optim_wrapper
    gpu = apply_performance_cfg(Config.fromfile(TINY), amp=True, device_type='cuda')
    assert gpu.amp == 'fp16' and gpu.optim_wrapper.dtype == 'fp16'
    # SAM keeps its two passes
    qcs = osp.join(ROOT, 'configs', 'qcs', 'qcs_synthfer.py')
    sam = apply_performance_cfg(Config.fromfile(qcs), amp='bf16', device_type='cpu')
    assert sam.optim_wrapper.type == 'SAMFERAmpOptimWrapper' and sam.optim_wrapper.rho == 0.05
    with pytest.raises(ValueError, match='compile must be True, False or a dict'):
        apply_performance_cfg(Config.fromfile(TINY), compile='yes', device_type='cpu')
    with pytest.raises(ValueError, match='fp16 is refused on this CPU'):
        apply_performance_cfg(Config.fromfile(TINY), amp='fp16', device_type='cpu')
    # test tool: no optim wrapper change
    t = apply_performance_cfg(Config.fromfile(TINY), amp='bf16', device_type='cpu', train=False)
    assert t.amp == 'bf16' and t.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'
    # idempotent
    ow = amp_optim_wrapper_cfg(cpu.optim_wrapper, 'bf16')
    assert ow.type == 'FERAmpOptimWrapper' and ow.dtype == 'bf16'


def _batch(n, size, num_classes=7, seed=0):
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, num_classes, (n, ), generator=g)
    return dict(inputs=inputs, data_samples=[DataSample().set_gt_label(int(y)) for y in labels])


@pytest.mark.parametrize('config,size', [(TINY, 32), (DAN, 64)])
def test_channels_last_is_exact_for_logits_and_one_training_step(config, size):
    """Logits (eval, within 1e-5) and one SGD step (loss within 5e-5, every parameter after
    the step within 1e-4) with and without channels_last. The step's tolerance is fp32's own
    spread: training-mode BatchNorm over a batch of 4 amplifies rounding, and NCHW with oneDNN
    switched off (another correct fp32 kernel) differs from NCHW by as much (tiny 32 px: max
    |Δgrad| 1.6e-4 vs channels_last 1.7e-4; DAN 64 px: 3.3e-4 vs 4.7e-4, gradients up to 14);
    so channels_last must also stay within 3x that spread."""
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    nchw = build_model(cfg, 'cpu')
    nhwc = to_channels_last(copy.deepcopy(nchw))
    other = copy.deepcopy(nchw)
    assert nhwc.backbone.conv1.weight.is_contiguous(memory_format=CL)
    data = _batch(4, size, nchw.head.num_classes)
    logits = []
    for m in (nchw, nhwc):
        m.eval()
        with torch.no_grad():
            out = m.test_step(copy.deepcopy(data))
        logits.append(torch.stack([d.pred_score for d in out]))
    assert torch.allclose(logits[0], logits[1], atol=1e-5, rtol=0)
    ow_cfg = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
    before = {k: v.detach().clone() for k, v in nchw.named_parameters()}
    losses, params = [], []
    for m, onednn in ((nchw, True), (nhwc, True), (other, False)):
        m.train()
        ow = build_optim_wrapper(m, copy.deepcopy(ow_cfg))
        torch.manual_seed(1)
        with torch.backends.mkldnn.flags(enabled=onednn):
            log = m.train_step(copy.deepcopy(data), ow)
        losses.append(float(log['loss']))
        params.append({k: v.detach().clone() for k, v in m.named_parameters()})

    def max_diff(a, b):
        return max(float((a[k] - b[k]).abs().max()) for k in a)
    # DAN's loss (CE + affinity + partition) differed by 1.6e-5 here; oneDNN-off NCHW by 7.6e-6
    assert abs(losses[0] - losses[1]) < 5e-5, losses
    diff, spread = max_diff(params[0], params[1]), max_diff(params[0], params[2])
    assert diff < 1e-4, diff
    assert diff <= 3 * spread + 1e-6, (diff, spread)
    # the SGD step did move the weights (the comparison is not between untouched copies)
    moved = max_diff(params[0], before)
    assert moved > 1e-3, moved


def _runner(tmp_path, **keys):
    from mmfer.engine.runner import FERRunner
    cfg = Config.fromfile(TINY)
    for k, v in keys.items():
        setattr(cfg, k, v)
    cfg.work_dir = str(tmp_path)
    return FERRunner.from_cfg(cfg)


def test_runner_applies_channels_last_before_wrapping(tmp_path):
    on = _runner(tmp_path / 'on')
    assert on.model.backbone.conv1.weight.is_contiguous(memory_format=CL)
    off = _runner(tmp_path / 'off', channels_last=False)
    w = off.model.backbone.conv1.weight
    assert w.is_contiguous() and not w.is_contiguous(memory_format=CL)


def test_runner_autocasts_the_test_step_and_returns_float_scores(tmp_path):
    runner = _runner(tmp_path, amp='bf16')
    runner._prepare_eval_step('test_step')
    runner.model.eval()
    with torch.no_grad():
        out = runner.model.test_step(_batch(2, 32))
    assert out[0].pred_score.dtype == torch.float32
    # computed in bf16: not the fp32 scores
    ref = _runner(tmp_path / 'fp32')
    ref.model.load_state_dict(runner.model.state_dict())
    ref.model.eval()
    with torch.no_grad():
        out32 = ref.model.test_step(_batch(2, 32))
    d = (out[0].pred_score - out32[0].pred_score).abs().max()
    assert 0 < d < 5e-2


def test_compile_freeze_is_for_inference_only():
    """``--compile freeze`` → inductor ``freezing`` (weights baked into the graph): accepted
    for testing, refused for training (a frozen val_step would keep the first weights)."""

    from mmfer.utils.performance import (apply_performance_cfg, compile_cfg_of,
                                         is_frozen_compile, performance_options)
    assert compile_cfg_of('freeze') == dict(options=dict(freezing=True))
    assert compile_cfg_of('max-autotune') == dict(mode='max-autotune')
    assert compile_cfg_of(True) is True and compile_cfg_of(None) is None
    assert is_frozen_compile(dict(options=dict(freezing=True, max_autotune=False)))
    assert not is_frozen_compile(dict(mode='max-autotune')) and not is_frozen_compile(True)
    args = SimpleNamespace(compile='freeze', channels_last=None, amp=None)
    test_cfg = apply_performance_cfg(Config.fromfile(TINY), train=False, device_type='cpu',
                                     **performance_options(args))
    assert test_cfg.compile == dict(options=dict(freezing=True))
    with pytest.raises(ValueError, match='bakes the weights'):
        apply_performance_cfg(Config.fromfile(TINY), device_type='cpu',
                              **performance_options(args))


def test_compile_model_freeze_passes_the_inductor_option(monkeypatch):
    """The option reaches torch.compile, and the compiled function runs with inductor's global
    ``freezing`` flag on (dynamo reads that one when it traces; without it nothing freezes)."""
    import torch._inductor.config as inductor_config

    from mmfer.utils import performance as perf
    seen = []

    def fake_compile(fn, **kw):
        seen.append(kw)
        return lambda *a: (fn(*a), inductor_config.freezing)
    monkeypatch.setattr(perf.torch, 'compile', fake_compile)
    frozen = perf.compile_model(abs, mode='freeze')
    assert frozen(-2) == (2, True) and inductor_config.freezing is False
    perf.compile_model(abs, freeze=True, options=dict(max_autotune=True))
    plain = perf.compile_model(abs, mode='max-autotune')
    assert plain(-3) == (3, False)
    # the config spelling (FERInferencer(compile='freeze') passes compile_cfg_of's dict)
    from_cfg = perf.compile_model(abs, **perf.compile_cfg_of('freeze'))
    assert from_cfg(-4) == (4, True)
    assert seen == [dict(mode=None, options=dict(freezing=True)),
                    dict(mode=None, options=dict(max_autotune=True, freezing=True)),
                    dict(mode='max-autotune'), dict(mode=None, options=dict(freezing=True))]


def test_runner_refuses_to_train_with_a_frozen_compile(tmp_path):
    """A config that sets the freezing option itself (not through apply_performance_cfg)."""
    runner = _runner(tmp_path, compile=dict(options=dict(freezing=True)))
    with pytest.raises(ValueError, match='bakes the weights'):
        runner.train()


def test_runner_test_step_compiled_frozen_runs_under_the_global_flag(tmp_path, monkeypatch):
    import torch._inductor.config as inductor_config
    monkeypatch.setattr(torch, 'compile', lambda fn, **kw: (
        lambda *a, **k: (inductor_config.freezing, kw)))
    runner = _runner(tmp_path, compile=dict(options=dict(freezing=True)))
    runner._prepare_eval_step('test_step')
    assert runner.model.test_step(None) == (True, dict(options=dict(freezing=True)))
    assert inductor_config.freezing is False


def test_fused_optimizer_cfg_and_switch():
    from mmfer.utils.performance import FUSED_OPTIMIZERS, fused_optimizer_cfg
    cfg = Config.fromfile(TINY)
    assert cfg.fused_optimizer is False  # default_runtime.py: official recipes step as theirs
    ow = fused_optimizer_cfg(cfg.optim_wrapper)
    assert ow.optimizer.fused is True and 'fused' not in cfg.optim_wrapper.optimizer  # a copy
    assert ow.optimizer.type == cfg.optim_wrapper.optimizer.type
    on = apply_performance_cfg(Config.fromfile(TINY), fused_optimizer=True, device_type='cpu')
    assert on.fused_optimizer is True
    assert apply_performance_cfg(on, fused_optimizer=False,
                                 device_type='cpu').fused_optimizer is False
    # QCS: SAM wrapper around Adam keeps its type and rho
    qcs = Config.fromfile(osp.join(ROOT, 'configs', 'qcs', 'qcs_synthfer.py'))
    sam = fused_optimizer_cfg(qcs.optim_wrapper)
    assert sam.type == qcs.optim_wrapper.type and sam.optimizer.fused is True
    assert sam.optimizer.type in FUSED_OPTIMIZERS
    with pytest.raises(ValueError, match="'RMSprop' has no fused step"):
        fused_optimizer_cfg(dict(optimizer=dict(type='RMSprop', lr=0.1)))
    with pytest.raises(ValueError, match='only one of the two'):
        fused_optimizer_cfg(dict(optimizer=dict(type='SGD', lr=0.1, foreach=True)))
    with pytest.raises(ValueError, match='one `optimizer` dict'):
        fused_optimizer_cfg(dict(a=dict(optimizer=dict(type='SGD', lr=0.1))))
    bad = Config.fromfile(TINY)
    bad.optim_wrapper.optimizer = dict(type='RMSprop', lr=0.1)
    with pytest.raises(ValueError, match='has no fused step'):  # at config time, not iteration 1
        apply_performance_cfg(bad, fused_optimizer=True, device_type='cpu')
    bad = Config.fromfile(TINY)
    bad.fused_optimizer = 'yes'
    with pytest.raises(ValueError, match='fused_optimizer must be True or False'):
        apply_performance_cfg(bad, device_type='cpu')


@pytest.mark.parametrize('optimizer', [
    dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4),
    dict(type='SGD', lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4),
    dict(type='Adam', lr=1e-3, weight_decay=1e-4)])
def test_fused_optimizer_steps_as_the_loop(optimizer):
    """Three steps of the fused optimizer against torch's default (for-loop) one on the same
    gradients: every element within two float32 ulps (the two round a few elements
    differently, e.g. the 5-element bias of the Linear here), and the weights did move."""
    from mmengine.optim import build_optim_wrapper

    from mmfer.utils.performance import fused_optimizer_cfg
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(8 * 36, 5))
    results = []
    for fused in (False, True):
        m = copy.deepcopy(net)
        ow_cfg = dict(optimizer=dict(optimizer))
        ow = build_optim_wrapper(m, fused_optimizer_cfg(ow_cfg) if fused else ow_cfg)
        assert bool(ow.optimizer.defaults.get('fused')) is fused
        g = torch.Generator().manual_seed(1)
        for _ in range(3):
            for p in m.parameters():
                p.grad = torch.randn(p.shape, generator=g)
            ow.step()
        results.append([p.detach().clone() for p in m.parameters()])
    moved = max(float((a - b).abs().max()) for a, b in zip(results[0], net.parameters()))
    assert moved > 1e-3
    for a, b in zip(*results):
        assert torch.allclose(a, b, rtol=2 * 2**-23, atol=1e-9), float((a - b).abs().max())


def test_runner_builds_the_fused_optimizer(tmp_path):
    runner = _runner(tmp_path, fused_optimizer=True)
    ow = runner.build_optim_wrapper(runner.cfg.optim_wrapper)
    assert ow.optimizer.defaults['fused'] is True
    # one training step through it moves the (channels_last) weights
    model = runner.model
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    model.train()
    log = model.train_step(_batch(4, 32, model.head.num_classes), ow)
    assert torch.isfinite(log['loss'])
    assert max(float((v - before[k]).abs().max()) for k, v in model.named_parameters()) > 0
    off = _runner(tmp_path / 'off')
    assert not off.build_optim_wrapper(off.cfg.optim_wrapper).optimizer.defaults.get('fused')
    # a runner built without tools/train.py refuses a non-bool value instead of reading it
    bad = _runner(tmp_path / 'bad', fused_optimizer='no')
    with pytest.raises(ValueError, match="fused_optimizer must be True or False, got 'no'"):
        bad.build_optim_wrapper(bad.cfg.optim_wrapper)
