"""FERRunner builds optimizers without frozen parameters (FEROptimWrapperConstructor by default)."""
import pytest
import torch
from mmengine.config import ConfigDict

from mmfer.engine.runner import FERRunner


pytestmark = pytest.mark.usefixtures('one_thread')

TINY_R18 = dict(type='ResNet_CIFAR', depth=18, num_stages=4, out_indices=(3, ),
                stem_channels=4, base_channels=4)


def test_default_constructor_drops_frozen_parameters(tmp_path):
    model = dict(type='FERClassifier', backbone=dict(TINY_R18),
                 aux_nets=dict(ref=dict(TINY_R18, frozen=True)),
                 head=dict(type='FERClsHead', num_classes=3, in_channels=32))
    runner = FERRunner(model=model, work_dir=str(tmp_path), default_scope='mmfer',
                       log_level='WARNING')
    wrapper = runner.build_optim_wrapper(ConfigDict(optimizer=dict(type='SGD', lr=0.1)))
    in_opt = {id(p) for g in wrapper.optimizer.param_groups for p in g['params']}
    trainable = [p for p in runner.model.parameters() if p.requires_grad]
    assert len(in_opt) == len(trainable) and all(id(p) in in_opt for p in trainable)
    assert not any(id(p) in in_opt for p in runner.model.aux_nets['ref'].parameters())
    # a config's own constructor is kept: mmengine's default includes the frozen ones
    plain = runner.build_optim_wrapper(ConfigDict(
        optimizer=dict(type='SGD', lr=0.1), constructor='DefaultOptimWrapperConstructor'))
    n_plain = sum(len(g['params']) for g in plain.optimizer.param_groups)
    assert n_plain == len(list(runner.model.parameters())) > len(in_opt)
    assert isinstance(wrapper.optimizer, torch.optim.SGD)
