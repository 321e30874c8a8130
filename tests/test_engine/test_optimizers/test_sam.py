"""SAMOptimWrapper: the spec's toy (qcs.md §7 acceptance), accumulation, adaptive, AMP, frozen."""
import math

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample

from mmfer.engine.optimizers.sam import SAMAmpOptimWrapper, SAMOptimWrapper
from mmfer.registry import MODELS, OPTIM_WRAPPERS


pytestmark = pytest.mark.usefixtures('one_thread')

DIAG = torch.tensor([1., 4.], dtype=torch.float64)


class Quadratic(BaseModel):
    """f(w) = c · ½ wᵀ diag(1, 4) w with c = mean(inputs); a frozen parameter on the side."""

    def __init__(self, w=(1., 1.)):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))
        self.frozen = nn.Parameter(torch.ones(2, dtype=torch.float64), requires_grad=False)
        self.calls = 0

    def forward(self, inputs, data_samples=None, mode='loss'):
        self.calls += 1
        c = inputs.double().mean()
        return dict(loss=c * 0.5 * (DIAG * self.w ** 2).sum() + (self.frozen * 0).sum())


def batch(c=1.0):
    return dict(inputs=torch.tensor([c]))


def sam_reference(w, rho=0.05, lr=0.1, adaptive=False, c=1.0):
    """Hand-written SAM + SGD step on f (plain Python floats)."""
    g = [c * d * x for d, x in zip((1., 4.), w)]
    if adaptive:
        norm = math.sqrt(sum((abs(x) * gi) ** 2 for x, gi in zip(w, g)))
        e = [rho * x * x * gi / (norm + 1e-12) for x, gi in zip(w, g)]
    else:
        norm = math.sqrt(sum(gi ** 2 for gi in g))
        e = [rho * gi / (norm + 1e-12) for gi in g]
    g2 = [c * d * (x + ei) for d, x, ei in zip((1., 4.), w, e)]
    return e, g2, [x - lr * gi for x, gi in zip(w, g2)]


def make(model, cls=SAMOptimWrapper, lr=0.1, **kw):
    return cls(optimizer=torch.optim.SGD(model.parameters(), lr=lr), **kw)


def test_spec_toy():
    e, g2, w_new = sam_reference([1., 1.])
    # the spec's numbers, checked against the hand formula first
    assert abs(e[0] - 0.012126781) < 1e-9 and abs(e[1] - 0.048507125) < 1e-9
    assert abs(g2[0] - 1.012126781) < 1e-9 and abs(g2[1] - 4.194028500) < 1e-9
    model = Quadratic()
    wrapper = OPTIM_WRAPPERS.build(dict(
        type='SAMOptimWrapper', rho=0.05,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    log = model.train_step(batch(), wrapper)
    assert model.calls == 2  # two forward passes
    assert abs(log['loss'].item() - 2.5) < 1e-12  # L(w) is logged
    assert torch.allclose(model.w, torch.tensor([0.898787322, 0.580597150], dtype=torch.float64),
                          atol=1e-6)
    assert torch.equal(model.frozen, torch.ones(2, dtype=torch.float64))
    assert model.w.grad is None or torch.all(model.w.grad == 0)
    assert not wrapper._old_params and not wrapper._sam_cache


def test_update_params_outside_optim_context_refuses():
    model = Quadratic()
    wrapper = make(model)
    with pytest.raises(RuntimeError, match='no forward was recorded.*optim_context'):
        wrapper.update_params(model(torch.ones(1))['loss'])
    # the context leaves the model's own _run_forward in place
    with wrapper.optim_context(model):
        pass
    assert '_run_forward' not in vars(model)


def test_accumulation_identical_micro_batches():
    model = Quadratic()
    wrapper = make(model, accumulative_counts=2)
    model.train_step(batch(), wrapper)
    assert torch.equal(model.w.detach(), torch.ones(2, dtype=torch.float64))  # no step yet
    assert model.calls == 1
    model.train_step(batch(), wrapper)
    assert model.calls == 4  # 2 first-pass + 2 second-pass forwards
    assert torch.allclose(model.w, torch.tensor([0.898787322, 0.580597150], dtype=torch.float64),
                          atol=1e-6)


def test_accumulation_different_micro_batches():
    """Micro-batches with c = 1 and c = 3 accumulate to the mean objective c = 2."""
    model = Quadratic()
    wrapper = make(model, accumulative_counts=2)
    model.train_step(batch(1.0), wrapper)
    model.train_step(batch(3.0), wrapper)
    _, _, w_new = sam_reference([1., 1.], c=2.0)
    assert torch.allclose(model.w, torch.tensor(w_new, dtype=torch.float64), atol=1e-9)


def test_adaptive():
    model = Quadratic(w=(2., 1.))
    wrapper = make(model, adaptive=True)
    model.train_step(batch(), wrapper)
    _, _, w_new = sam_reference([2., 1.], adaptive=True)
    _, _, w_plain = sam_reference([2., 1.], adaptive=False)
    assert torch.allclose(model.w, torch.tensor(w_new, dtype=torch.float64), atol=1e-9)
    assert abs(w_new[0] - w_plain[0]) > 1e-4  # the variants differ at this w


def test_adam_receives_second_pass_gradient():
    model = Quadratic()
    wrapper = SAMOptimWrapper(optimizer=torch.optim.Adam(model.parameters(), lr=0.01), rho=0.05)
    model.train_step(batch(), wrapper)
    # Adam's first step moves each weight by lr·g′/(|g′| + eps) (bias-corrected moments)
    _, g2, _ = sam_reference([1., 1.])
    expected = [1 - 0.01 * g / (abs(g) + 1e-8) for g in g2]
    assert torch.allclose(model.w, torch.tensor(expected, dtype=torch.float64), atol=1e-9)


def test_nonfinite_first_pass_skips(caplog):
    model = Quadratic()
    wrapper = make(model)
    model.train_step(batch(float("inf")), wrapper)
    assert model.calls == 1
    assert torch.equal(model.w.detach(), torch.ones(2, dtype=torch.float64))


@pytest.fixture
def amp_wrapper(monkeypatch):
    import mmengine.optim.optimizer.amp_optimizer_wrapper as amp_mod
    monkeypatch.setattr(amp_mod, 'is_cuda_available', lambda: True)

    def build(model):
        w = make(model, cls=SAMAmpOptimWrapper, loss_scale='dynamic')
        # CPU test: the scaler of torch.amp on the CPU device, same algorithm as CUDA's
        w.loss_scaler = torch.amp.GradScaler('cpu', init_scale=1024.)
        return w
    return build


def test_amp_equals_fp32(amp_wrapper):
    model = Quadratic()
    wrapper = amp_wrapper(model)
    model.train_step(batch(), wrapper)
    assert torch.allclose(model.w, torch.tensor([0.898787322, 0.580597150], dtype=torch.float64),
                          atol=1e-6)
    assert wrapper.loss_scaler.get_scale() == 1024.


def test_amp_overflow_skips_and_backs_off(amp_wrapper):
    model = Quadratic()
    wrapper = amp_wrapper(model)
    model.train_step(batch(float("inf")), wrapper)
    assert model.calls == 1  # no second pass
    assert torch.equal(model.w.detach(), torch.ones(2, dtype=torch.float64))
    assert wrapper.loss_scaler.get_scale() == 512.
    model.train_step(batch(), wrapper)  # recovers on the next finite batch
    assert torch.allclose(model.w, torch.tensor([0.898787322, 0.580597150], dtype=torch.float64),
                          atol=1e-6)


def test_any_model_train_step_runs_sam():
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='FERClassifier',
        backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8,
                      out_indices=(3, )),
        head=dict(type='FERClsHead', num_classes=3, in_channels=64)))
    calls = []
    model.head.register_forward_hook(lambda *a: calls.append(1))
    wrapper = SAMOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), rho=0.05)
    data = dict(inputs=[torch.rand(3, 32, 32) * 255 for _ in range(2)],
                data_samples=[DataSample().set_gt_label(i) for i in (0, 2)])
    before = model.head.fc.weight.detach().clone()
    model.train_step(data, wrapper)
    assert len(calls) == 2
    assert not torch.equal(before, model.head.fc.weight)


@pytest.mark.parametrize('wrapper_type', ['MMDistributedDataParallel',
                                          'SAMDistributedDataParallel'])
def test_ddp_wrapper_runs_sam(tmp_path, wrapper_type):
    """World size 1 (gloo, CPU): mmengine's own DDP wrapper (its train_step bypasses the
    model's) and the old SAMDistributedDataParallel name both run the two passes."""
    import torch.distributed as dist
    from mmfer.registry import MODEL_WRAPPERS
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/pg', rank=0, world_size=1)
    try:
        model = Quadratic()
        ddp = MODEL_WRAPPERS.build(dict(type=wrapper_type, module=model))
        wrapper = make(model)
        ddp.train_step(batch(), wrapper)
        assert model.calls == 2
        assert torch.allclose(model.w, torch.tensor([0.898787322, 0.580597150],
                                                    dtype=torch.float64), atol=1e-6)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize('opt', ['SGD', 'Adam'])
def test_fused_base_optimizer_gives_the_same_sam_step(opt):
    """fused_optimizer=True (mmfer.utils.performance) only swaps the base optimizer's step
    kernel: SAM's perturbation, restore and second-pass update are the loop's to 1e-12."""
    from mmengine.optim import build_optim_wrapper

    from mmfer.utils.performance import fused_optimizer_cfg
    results = []
    for fused in (False, True):
        model = Quadratic()
        cfg = dict(type='SAMOptimWrapper', rho=0.05,
                   optimizer=dict(type=opt, lr=0.1 if opt == 'SGD' else 0.01))
        wrapper = build_optim_wrapper(model, fused_optimizer_cfg(cfg) if fused else cfg)
        assert bool(wrapper.optimizer.defaults.get('fused')) is fused
        for _ in range(2):
            model.train_step(batch(), wrapper)
        assert model.calls == 4
        results.append(model.w.detach().clone())
    assert not torch.equal(results[0], torch.tensor([1., 1.], dtype=torch.float64))
    assert torch.allclose(results[0], results[1], atol=1e-12, rtol=0), results
    if opt == 'SGD':  # one step of the fused run is the spec's toy
        model = Quadratic()
        wrapper = build_optim_wrapper(model, fused_optimizer_cfg(dict(
            type='SAMOptimWrapper', rho=0.05, optimizer=dict(type='SGD', lr=0.1))))
        model.train_step(batch(), wrapper)
        assert torch.allclose(model.w, torch.tensor([0.898787322, 0.580597150],
                                                    dtype=torch.float64), atol=1e-6)
