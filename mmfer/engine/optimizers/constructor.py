"""The optimizer wrapper constructor of mmfer runs: mmengine's default, minus frozen parameters."""
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor

from mmfer.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class FEROptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's ``DefaultOptimWrapperConstructor`` (``paramwise_cfg`` and all), after which
    every parameter with ``requires_grad=False`` is removed from the optimizer's parameter
    groups (groups left empty are dropped).

    mmengine's constructor hands the optimizer ``model.parameters()`` as they are, frozen ones
    included; with no gradient they are not stepped, but weight decay bookkeeping, optimizer
    state size and ``clip_grad`` norms would still see them. mmfer's frozen auxiliary networks
    (``FERClassifier(aux_nets=dict(name=dict(frozen=True)))``) and frozen backbone stages
    (``frozen_stages``) are therefore never in the optimizer. ``FERRunner`` uses this
    constructor unless a config names another one.
    """

    def __call__(self, model):
        optim_wrapper = super().__call__(model)
        optimizer = optim_wrapper.optimizer
        module = model.module if hasattr(model, 'module') else model
        frozen = {id(p) for p in module.parameters() if not p.requires_grad}
        if not frozen:
            return optim_wrapper
        removed = 0
        groups = []
        for group in optimizer.param_groups:
            keep = [p for p in group['params'] if id(p) not in frozen]
            removed += len(group['params']) - len(keep)
            if keep:
                group['params'] = keep
                groups.append(group)
        optimizer.param_groups[:] = groups
        print_log(f'FEROptimWrapperConstructor: {removed} frozen parameter tensors '
                  f'({sum(p.numel() for p in module.parameters() if not p.requires_grad):,} '
                  'values) left out of the optimizer', logger='current')
        return optim_wrapper
