"""FERAmpOptimWrapper / SAMFERAmpOptimWrapper: mixed-precision training steps on CPU (bf16;
fp16 with a real dynamic ``GradScaler('cpu')`` as on a CPU with native fp16) and, when a GPU
is present, the fp16 GradScaler path on CUDA."""
import copy
import logging
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmengine.optim import AmpOptimWrapper, build_optim_wrapper

from mmfer.apis import build_model
from mmfer.engine.optimizers import FERAmpOptimWrapper, SAMFERAmpOptimWrapper

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')
SGD = dict(type='SGD', lr=0.1, momentum=0.9)


def _model():
    torch.manual_seed(0)
    return build_model(Config.fromfile(TINY), 'cpu')


def _batch(n=8, size=32, seed=0):
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 7, (n, ), generator=g)
    return dict(inputs=inputs, data_samples=[DataSample().set_gt_label(int(y)) for y in labels])


def _step(model, ow_cfg):
    ow = build_optim_wrapper(model, copy.deepcopy(ow_cfg))
    model.train()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    log = model.train_step(_batch(), ow)
    moved = max(float((p.detach() - before[k]).abs().max()) for k, p in model.named_parameters())
    return ow, float(log['loss']), moved


def test_bf16_step_on_cpu_changes_parameters_and_loss_is_close_to_fp32():
    ow, loss_bf16, moved = _step(_model(), dict(type='FERAmpOptimWrapper', dtype='bf16',
                                                optimizer=SGD))
    assert isinstance(ow, FERAmpOptimWrapper) and isinstance(ow, AmpOptimWrapper)
    assert ow.device_type == 'cpu' and ow.cast_dtype == torch.bfloat16
    assert not ow.loss_scaler.is_enabled()  # bf16: no loss scaling
    assert moved > 1e-4
    _, loss_fp32, _ = _step(_model(), dict(optimizer=SGD))
    # same weights, same batch: only the precision differs (bf16 has 8 mantissa bits)
    assert loss_bf16 != loss_fp32
    assert abs(loss_bf16 - loss_fp32) < 0.02 * abs(loss_fp32)
    # checkpoints keep mmengine's layout (a loss_scaler entry)
    state = ow.state_dict()
    assert 'loss_scaler' in state and 'state' in state
    ow.load_state_dict(state)


def test_bf16_runs_the_forward_in_bf16():
    model = _model()
    ow = build_optim_wrapper(model, dict(type='FERAmpOptimWrapper', optimizer=SGD))
    seen = []
    model.backbone.conv1.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    model.train_step(_batch(), ow)
    assert seen == [torch.bfloat16]


def test_fp16_and_unknown_dtypes_are_refused_on_cpu(cpu_without_fp16):
    model = _model()
    with pytest.raises(ValueError, match='fp16 is refused on this CPU'):
        build_optim_wrapper(model, dict(type='FERAmpOptimWrapper', dtype='fp16', optimizer=SGD))
    with pytest.raises(ValueError, match="amp must be None, 'bf16' or 'fp16'"):
        build_optim_wrapper(model, dict(type='FERAmpOptimWrapper', dtype='int8', optimizer=SGD))
    with pytest.raises(ValueError, match="dtype must be 'bf16' or 'fp16'"):
        build_optim_wrapper(model, dict(type='FERAmpOptimWrapper', dtype='fp32', optimizer=SGD))


def test_sam_bf16_step_on_cpu_runs_both_passes():
    model = _model()
    calls = []
    model.backbone.register_forward_hook(
        lambda m, i, o: calls.append(torch.is_autocast_enabled('cpu')))
    ow, loss, moved = _step(model, dict(type='SAMFERAmpOptimWrapper', dtype='bf16', rho=0.05,
                                        optimizer=SGD))
    assert isinstance(ow, SAMFERAmpOptimWrapper) and ow.rho == 0.05
    # two forwards (L(w) and L(w + e)), both under bf16 autocast
    assert calls == [True, True]
    assert moved > 1e-4
    _, loss_fp32, _ = _step(_model(), dict(type='SAMOptimWrapper', rho=0.05, optimizer=SGD))
    assert abs(loss - loss_fp32) < 0.02 * abs(loss_fp32)


def _fp16_steps(wrapper: str, device: str):
    """Five fp16 steps with the dynamic scaler on ``device``; returns the wrapper."""
    model = _model().to(device)
    ow = build_optim_wrapper(model, dict(type=wrapper, dtype='fp16', optimizer=SGD,
                                         device_type=device))
    assert ow.device_type == device and ow.loss_scaler.is_enabled()
    assert ow.cast_dtype == torch.float16
    seen = []
    model.backbone.conv1.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    data = _batch()
    data['inputs'] = data['inputs'].to(device)
    model.train()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    scale = ow.loss_scaler.get_scale()
    for _ in range(5):  # an overflow skips a step and halves the scale; some step must land
        log = model.train_step(data, ow)
    assert torch.isfinite(log['loss'])
    assert set(seen) == {torch.float16}
    # one forward per step; SAM: two, except where the first pass overflowed (step skipped)
    assert 5 < len(seen) <= 10 if 'SAM' in wrapper else len(seen) == 5
    moved = max(float((p.detach() - before[k]).abs().max()) for k, p in model.named_parameters())
    assert moved > 1e-4 and 0 < ow.loss_scaler.get_scale() <= scale
    # every skipped step halved the scale (no growth within 2,000 steps) and was counted
    assert ow.loss_scaler.get_scale() == scale * 0.5 ** ow.skipped_steps
    assert ow.skipped_steps < 5
    hub = MessageHub.get_current_instance()
    assert hub.get_scalar('train/loss_scale').current() == ow.loss_scaler.get_scale()
    return ow


@pytest.mark.parametrize('wrapper', ['FERAmpOptimWrapper', 'SAMFERAmpOptimWrapper'])
def test_fp16_grad_scaler_on_a_cpu_with_native_fp16(wrapper, cpu_with_fp16):
    ow = _fp16_steps(wrapper, 'cpu')
    assert ow.loss_scaler._device == 'cpu'
    # the scaler's state is checkpointed (resume keeps the scale)
    state = ow.state_dict()['loss_scaler']
    assert state['scale'] == ow.loss_scaler.get_scale() and state['_growth_tracker'] >= 0


@pytest.mark.parametrize('wrapper', ['FERAmpOptimWrapper', 'SAMFERAmpOptimWrapper'])
def test_fp16_overflow_on_cpu_skips_the_step_and_halves_the_scale(wrapper, cpu_with_fp16):
    """A scale of 2**40 overflows fp16 gradients: the scaler finds inf, the parameters stay
    as they were and the scale halves (both SAM passes are skipped for SAM); the skip is
    logged and counted, not silent."""
    model = _model()
    ow = build_optim_wrapper(model, dict(type=wrapper, dtype='fp16', optimizer=SGD,
                                         device_type='cpu', loss_scale=dict(init_scale=2.**40)))
    model.train()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    logger = MMLogger.get_current_instance()  # mmengine's logger does not propagate: listen
    records = []
    handler = logging.Handler()
    handler.emit = lambda r: records.append(r.getMessage())
    logger.addHandler(handler)
    try:
        model.train_step(_batch(), ow)
    finally:
        logger.removeHandler(handler)
    out = '\n'.join(records)
    assert all(torch.equal(p.detach(), before[k]) for k, p in model.named_parameters())
    assert ow.loss_scaler.get_scale() == 2.**39
    assert ow.skipped_steps == 1
    assert MessageHub.get_current_instance().get_scalar('train/loss_scale').current() == 2.**39
    assert ('step skipped, loss scale now 549755813888.0' in out if 'SAM' in wrapper else
            'optimizer step skipped, loss scale 1099511627776.0 -> 549755813888.0 (1 skipped '
            'so far)' in out)


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason='the fp16 GradScaler path on CUDA needs a GPU (none here)')
@pytest.mark.parametrize('wrapper', ['FERAmpOptimWrapper', 'SAMFERAmpOptimWrapper'])
def test_fp16_grad_scaler_on_gpu(wrapper):
    _fp16_steps(wrapper, 'cuda')


def test_fp16_static_loss_scale_skip_is_counted_too(cpu_with_fp16):
    """A static scale (``loss_scale=2**40``, a float) never backs off, yet the scaler still
    skips an overflowing step: the skip is read from the scaler's inf check, not from the
    scale."""
    model = _model()
    ow = build_optim_wrapper(model, dict(type='FERAmpOptimWrapper', dtype='fp16', optimizer=SGD,
                                         device_type='cpu', loss_scale=2.**40))
    model.train()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    model.train_step(_batch(), ow)
    assert all(torch.equal(p.detach(), before[k]) for k, p in model.named_parameters())
    assert ow.loss_scaler.get_scale() == 2.**40 and ow.skipped_steps == 1
