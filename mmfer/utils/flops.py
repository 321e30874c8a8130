"""Counting engine for parameters and multiply–accumulates (MACs) of an inference forward.

Conventions (design.md, backbones.md "Counting conventions"):

- **MACs** = multiply–accumulates of convolutions and matrix products only: the FLOPs that
  :class:`torch.utils.flop_counter.FlopCounterMode` reports for ``convolution``, ``mm``,
  ``addmm``, ``bmm``, ``baddbmm`` and scaled-dot-product attention, divided by 2.  For a
  convolution with output N×C_out×H'×W' and kernel C_out×(C_in/g)×k_h×k_w,
  MACs = N·C_out·H'·W'·(C_in/g)·k_h·k_w; for a matrix product (m×k)·(k×n), MACs = m·k·n;
  attention softmax(QKᵀ)V with Q ∈ ℝ^{B×h×L×d}, K, V ∈ ℝ^{B×h×S×d} costs 2·B·h·L·S·d.
  Bias additions, BatchNorm, activations and other element-wise ops are not counted.
  mmfer adds formulas the stock registry lacks: the CPU flash-attention kernel
  (``_scaled_dot_product_flash_attention_for_cpu``), ``mv``/``addmv`` and ``dot``.
- Only what runs is counted: the forward is executed once on a random input and every operator
  is counted as it executes (FlopCounterMode is a ``TorchDispatchMode``).  Training-only
  branches, loss modules and dead layers that the inference forward never calls cost nothing.
- **Parameters** are reported four ways:

  ``registered``      every parameter of the model (shared tensors once);
  ``model``           :func:`mmfer.utils.params.count_parameters`: ``registered`` without loss
                      state (parameters under a ``losses`` module, e.g. DAN's affinity centers);
  ``inference``       parameters the inference forward actually reads — every parameter tensor
                      that an executed operator receives (found by a dispatch mode that matches
                      operator arguments to parameter storages).  This includes tensors owned by
                      container modules (class tokens, position embeddings) and excludes
                      training-only branches.  This is the headline number;
  ``leaf_executed``   module-based (thop-style) count: the own parameters of executed *leaf*
                      modules.  It misses parameters held by non-leaf modules (class tokens,
                      position embeddings), as papers that count with thop do.

Per-module attribution uses FlopCounterMode's module hierarchy (``torch.utils.module_tracker``):
a module's MACs are inclusive of its children.  Which modules ran, and how often, is recorded
with forward pre-hooks.
"""
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from mmfer.utils.params import count_parameters

aten = torch.ops.aten

__all__ = [
    'ModuleStat', 'FlopsResult', 'count_flops', 'count_model_flops', 'format_count',
    'EXTRA_FLOP_FORMULAS'
]


# ---------------------------------------------------------------------------------------------
# FLOP formulas missing from torch's registry (FLOPs = 2 × MACs, as torch's own formulas).
# Each receives shapes (torch's ``shape_wrapper`` replaces tensors by their shapes).
def _cpu_flash_sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
    # CPU path of F.scaled_dot_product_attention: two batched matmuls, QKᵀ and PV
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _mv_flop(a_shape, b_shape, *args, out_shape=None, **kwargs):
    return 2 * a_shape[0] * a_shape[1]


def _addmv_flop(self_shape, a_shape, b_shape, *args, out_shape=None, **kwargs):
    return 2 * a_shape[0] * a_shape[1]


def _dot_flop(a_shape, b_shape, *args, out_shape=None, **kwargs):
    return 2 * a_shape[0]


EXTRA_FLOP_FORMULAS = {
    aten.mv: _mv_flop,
    aten.addmv: _addmv_flop,
    aten.dot: _dot_flop,
}
if hasattr(aten, '_scaled_dot_product_flash_attention_for_cpu'):
    EXTRA_FLOP_FORMULAS[aten._scaled_dot_product_flash_attention_for_cpu] = _cpu_flash_sdpa_flop


# ---------------------------------------------------------------------------------------------
class _ParamReadMode(TorchDispatchMode):
    """Records which parameters are read by the operators that execute.

    An operator "reads" a parameter when one of its tensor arguments shares the parameter's
    storage (the parameter itself or a view such as ``weight.t()``).
    """

    def __init__(self, params: Dict[str, nn.Parameter]):
        super().__init__()
        self._by_storage: Dict[int, List[str]] = {}
        for name, p in params.items():
            if p.numel() == 0 or p.layout != torch.strided:
                continue
            self._by_storage.setdefault(p.untyped_storage().data_ptr(), []).append(name)
        self.read: set = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        flat, _ = tree_flatten((args, kwargs))
        for a in flat:
            if isinstance(a, torch.Tensor) and a.layout == torch.strided and a.numel() > 0:
                names = self._by_storage.get(a.untyped_storage().data_ptr())
                if names:
                    self.read.update(names)
        return func(*args, **kwargs)


@dataclass
class ModuleStat:
    """Statistics of one module (``name`` is its fully qualified name, '' for the root)."""
    name: str
    type: str
    depth: int
    executed: bool
    calls: int
    macs: int  # inclusive of children
    params_registered: int  # recursive, all parameters
    params_inference: int  # recursive, parameters read by the inference forward

    def to_dict(self) -> dict:
        return dict(name=self.name, type=self.type, depth=self.depth, executed=self.executed,
                    calls=self.calls, macs=self.macs, params_registered=self.params_registered,
                    params_inference=self.params_inference)


@dataclass
class FlopsResult:
    """What :func:`count_flops` measured on one forward.

    Attributes:
        input_shape: shape of the input tensor of the counted forward (N×C×H×W).
        macs: total conv + matmul multiply–accumulates of the forward (for the whole batch).
        macs_by_op: MACs per aten operator name.
        params: ``registered`` / ``model`` / ``inference`` / ``inference_trainable`` /
            ``leaf_executed`` (see the module docstring).
        modules: one :class:`ModuleStat` per registered module, in registration order.
        unattributed: MACs of operators run by modules that are not registered in the model
            tree (e.g. a module kept in a plain list), keyed by their class path.
        unread_params: names of parameters the forward did not read.
    """
    input_shape: Tuple[int, ...]
    macs: int
    macs_by_op: Dict[str, int]
    params: Dict[str, int]
    modules: List[ModuleStat]
    unattributed: Dict[str, int] = field(default_factory=dict)
    unread_params: List[str] = field(default_factory=list)

    @property
    def flops(self) -> int:
        """FLOPs counting multiply and add separately (= 2 × MACs)."""
        return 2 * self.macs

    def module(self, name: str) -> ModuleStat:
        for m in self.modules:
            if m.name == name:
                return m
        raise KeyError(f'no module named {name!r}; known: {[m.name for m in self.modules][:20]}')

    def top_level(self) -> List[ModuleStat]:
        """The root's direct children, plus a ``(root ops)`` row for MACs computed directly in
        the root's forward (outside every child)."""
        rows = [m for m in self.modules if m.depth == 1]
        own = self.macs - sum(m.macs for m in rows) - sum(self.unattributed.values())
        root = self.modules[0]
        own_params = root.params_inference - sum(m.params_inference for m in rows)
        own_reg = root.params_registered - sum(m.params_registered for m in rows)
        if own or own_params or own_reg:
            rows.append(ModuleStat('(root ops)', root.type, 1, root.executed, root.calls, own,
                                   own_reg, own_params))
        return rows

    def to_dict(self) -> dict:
        return dict(
            input_shape=list(self.input_shape), macs=self.macs, flops=self.flops,
            gmacs=self.macs / 1e9, macs_by_op=dict(self.macs_by_op), params=dict(self.params),
            top_level=[m.to_dict() for m in self.top_level()],
            modules=[m.to_dict() for m in self.modules],
            unattributed=dict(self.unattributed), unread_params=list(self.unread_params))


def _default_forward(model: nn.Module, inputs: torch.Tensor):
    from mmengine.model import BaseModel
    if isinstance(model, BaseModel):
        return model(inputs, mode='tensor')
    return model(inputs)


def count_flops(model: nn.Module, inputs: torch.Tensor,
                forward_fn: Optional[Callable[[nn.Module, torch.Tensor], Any]] = None,
                eval_mode: bool = True) -> FlopsResult:
    """Run ``forward_fn(model, inputs)`` once and count its MACs and parameters.

    Args:
        model: the model (its train/eval state is restored afterwards).
        inputs: the input tensor, e.g. 1×3×224×224 (MACs are for the whole batch).
        forward_fn: how to call the inference forward. Default: ``model(inputs,
            mode='tensor')`` for an mmengine ``BaseModel``, else ``model(inputs)``.
        eval_mode: put the model in eval mode for the count (inference behaviour of dropout,
            BatchNorm and of branches gated on ``self.training``).

    Returns:
        FlopsResult
    """
    forward_fn = forward_fn or _default_forward
    named_params = OrderedDict(model.named_parameters())
    modules = list(model.named_modules())
    calls: Dict[str, int] = {name: 0 for name, _ in modules}

    def make_hook(name):
        def hook(mod, args):
            calls[name] += 1
        return hook

    handles = [m.register_forward_pre_hook(make_hook(n)) for n, m in modules]
    was_training = model.training
    flop_mode = FlopCounterMode(display=False, custom_mapping=EXTRA_FLOP_FORMULAS)
    read_mode = _ParamReadMode(named_params)
    try:
        if eval_mode:
            model.eval()
        with torch.no_grad(), flop_mode, read_mode:
            forward_fn(model, inputs)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    counts = flop_mode.get_flop_counts()
    total_flops = sum(counts.get('Global', {}).values())
    by_op: Dict[str, int] = {}
    for op, v in counts.get('Global', {}).items():
        key = getattr(op, '__name__', str(op))
        by_op[key] = by_op.get(key, 0) + v // 2

    # ModuleTracker names the root by its class name and children by their attribute path.
    root_prefix = type(model).__name__
    macs_by_name: Dict[str, int] = {}
    unattributed: Dict[str, int] = {}
    for key, ops in counts.items():
        if key == 'Global':
            continue
        v = sum(ops.values()) // 2
        if key == root_prefix:
            macs_by_name[''] = v
        elif key.startswith(root_prefix + '.'):
            macs_by_name[key[len(root_prefix) + 1:]] = v
        else:
            unattributed[key] = v
    # a module called from another module's forward is nested in it: keep only outermost
    # unregistered rows so that they are not double counted in the totals
    unattributed = {k: v for k, v in unattributed.items()
                    if not any(k.startswith(o + '.') for o in unattributed)}

    read = read_mode.read
    stats = []
    for name, mod in modules:
        prefix = name + '.' if name else ''
        own = [(n, p) for n, p in named_params.items()
               if n.startswith(prefix) or (not name)]
        stats.append(ModuleStat(
            name=name, type=type(mod).__name__, depth=0 if not name else name.count('.') + 1,
            executed=calls[name] > 0, calls=calls[name], macs=macs_by_name.get(name, 0),
            params_registered=sum(p.numel() for _, p in own),
            params_inference=sum(p.numel() for n, p in own if n in read)))

    leaf_executed = 0
    for name, mod in modules:
        if calls[name] and not any(True for _ in mod.children()):
            leaf_executed += sum(p.numel() for p in mod.parameters(recurse=False))

    params = dict(
        registered=sum(p.numel() for p in named_params.values()),
        model=count_parameters(model, exclude_loss_state=True),
        inference=sum(named_params[n].numel() for n in read),
        inference_trainable=sum(named_params[n].numel() for n in read
                                if named_params[n].requires_grad),
        leaf_executed=leaf_executed,
    )
    return FlopsResult(input_shape=tuple(inputs.shape), macs=total_flops // 2, macs_by_op=by_op,
                       params=params, modules=stats, unattributed=unattributed,
                       unread_params=[n for n in named_params if n not in read])


def count_model_flops(model: nn.Module, input_shape: Sequence[int] = (3, 224, 224),
                      batch_size: int = 1, device: Union[str, torch.device] = 'cpu',
                      forward_fn=None, seed: int = 0) -> FlopsResult:
    """:func:`count_flops` on a random ``batch_size``×C×H×W input (MACs for the batch).

    ``input_shape`` is C×H×W (a 2-tuple is read as H×W with 3 channels).
    """
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) == 2:
        input_shape = (3, ) + input_shape
    if len(input_shape) != 3:
        raise ValueError(f'input_shape must be (H, W) or (C, H, W), got {input_shape}')
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randn((batch_size, ) + input_shape, generator=gen).to(device)
    return count_flops(model, inputs, forward_fn=forward_fn)


def format_count(n: Union[int, float], unit: str = '') -> str:
    """12_345_678 → '12.346 M' (powers of 1000)."""
    if abs(n) < 1000:
        return f'{n:g} {unit}'.strip()
    k = min(4, max(0, int(math.floor(math.log10(abs(n)) / 3))))
    suffix = ['', 'K', 'M', 'G', 'T'][k]
    return f'{n / 1000 ** k:.3f} {suffix}{unit}'.strip()


# ---------------------------------------------------------------------------------------------
# Shared by the analysis tools (get_flops, benchmark): config → model.
def load_config(config: str, cfg_options: Optional[dict] = None):
    """Read a config file (``custom_imports`` are imported) and merge ``--cfg-options``."""
    import os.path as osp

    from mmengine.config import Config
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config}; pass the path of a .py config '
                                f'(e.g. configs/baseline/r18_rafdb.py)')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def build_model_from_cfg(cfg, device: Union[str, torch.device] = 'cpu') -> nn.Module:
    """:func:`mmfer.apis.build_model` (kept under this name for the analysis tools): ``cfg.model``
    built as mmengine's Runner builds it — under the config's ``default_scope`` (default
    ``'mmfer'``), with the top-level ``data_preprocessor`` merged in where the model has none.

    Weights stay randomly initialised: ``init_weights`` (which would load ``pretrained`` files)
    is not called, since neither MACs, parameter counts nor speed depend on the values.
    """
    from mmfer.apis.builder import build_model
    return build_model(cfg, device=device)
