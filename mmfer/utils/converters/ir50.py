"""IR-50/100/152 weights (face.evoLVe / POSTER_V2 / QCS ``ir50.pth``) → mmfer ``IResNet``.

backbones.md §1.4–1.5. Two layouts circulate:

- **layout A** (``ir50.pth`` of POSTER_V2 and QCS): ``input_layer.*``, ``body1.*`` … ``body3.*``
  (``body4.*`` for a full network) and ``output_layer.*``; 304 entries [257] for the 3-stage file.
  mmfer's ``IResNet`` uses these names, so the mapping is the identity.
- **layout B** (original face.evoLVe, POSTER v1): one ``body`` Sequential, units ``body.0`` …
  ``body.23``. Unit ``body.N`` is renamed to ``body{s}.{u}`` by walking the stage unit counts of
  the depth (IR-50: 3, 4, 14, 3 → ``body.0–2 → body1.0–2``, ``body.3–6 → body2.0–3``,
  ``body.7–20 → body3.0–13``, ``body.21–23 → body4.0–2``); the key order is identical.

Also accepted: a ``module.`` prefix (DataParallel); a QCS / POSTER++ model checkpoint, whose trunk
is under ``ir_back.`` (the ‡ setting of qcs.md §10 initialises IR-50 from a trained QCS
AffectNet-8 model); and an mmfer checkpoint whose trunk is under ``backbone.``. In the last two
cases every other top-level module of the file is a declared drop.

Declared drops (logged one by one as patterns with counts): ``output_layer.*`` when the model has
no output layer, the units of stages the model does not build (stage 4 of a 3-stage model), and
the non-trunk modules above. After that the key set must equal the model's exactly — apart from
``num_batches_tracked`` buffers when the file holds none — and every shape must agree; otherwise
:func:`mmfer.utils.checkpoint.check_state_dict` raises, naming the keys, both shapes and the
detected layout. Never a silent partial load (backbones.md §1.5).
"""
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import MMLogger, print_log

from mmfer.utils.checkpoint import (CheckpointMismatchError, CheckpointNotFoundError,
                                    check_state_dict, extract_state_dict, safe_torch_load,
                                    strip_prefix)

_LAYOUT_A = re.compile(r'^body([1-9])\.(\d+)\.(.+)$')
_LAYOUT_B = re.compile(r'^body\.(\d+)\.(.+)$')
_TRUNK_TOP = ('input_layer.', 'output_layer.', 'body.', 'body1.', 'body2.', 'body3.', 'body4.')

#: the fix printed with every IR-50 loading error
FIX_HINT = ('Fix: pass the MS-Celeb IR-50 file (ir50.pth of POSTER_V2/QCS, layout A, or the '
            'face.evoLVe layout-B file), or convert it with '
            'tools/model_converters/ir50_to_mmfer.py; mmfer never loads a partial match.')


def _stage_units(depth: int) -> Tuple[int, ...]:
    from mmfer.models.backbones.ir50 import IR_STAGE_UNITS
    if depth not in IR_STAGE_UNITS:
        raise ValueError(f'IR depth must be one of {sorted(IR_STAGE_UNITS)}, got {depth}')
    return IR_STAGE_UNITS[depth]


def detect_ir_layout(keys: Sequence[str]) -> str:
    """Return ``'A'`` (``body1.``…) or ``'B'`` (``body.N``) for a prefix-free IR state dict."""
    has_a = any(_LAYOUT_A.match(k) for k in keys)
    has_b = any(_LAYOUT_B.match(k) for k in keys)
    if has_a and has_b:
        raise KeyError('the IR state dict mixes layout A (body1./body2./...) and layout B '
                       f'(body.N) unit names; it is not a single IR network. {FIX_HINT}')
    if not (has_a or has_b):
        shown = list(keys)[:10]
        raise KeyError(f'no IR unit keys (body1.* or body.N.*) found; first keys: {shown}. '
                       f'{FIX_HINT}')
    return 'A' if has_a else 'B'


def _unit_b_to_a(n: int, units: Sequence[int]) -> Tuple[int, int]:
    """Unit index of the single ``body`` Sequential → (stage 1-based, unit within the stage)."""
    start = 0
    for s, count in enumerate(units):
        if n < start + count:
            return s + 1, n - start
        start += count
    raise KeyError(f'layout-B unit body.{n} does not exist in an IR network with '
                   f'{sum(units)} units ({units}); wrong depth? {FIX_HINT}')


def _select_trunk(sd: 'OrderedDict[str, torch.Tensor]', drops: Dict[str, int]):
    """Keep the IR trunk of a full-model checkpoint (``ir_back.`` / ``backbone.`` prefix)."""
    for prefix, owner in (('ir_back.', 'QCS/POSTER model checkpoint'),
                          ('backbone.', 'mmfer model checkpoint')):
        if any(k.startswith(prefix) for k in sd) and not any(k.startswith(_TRUNK_TOP) for k in sd):
            out = OrderedDict()
            for k, v in sd.items():
                if k.startswith(prefix):
                    out[k[len(prefix):]] = v
                else:
                    pat = f'non-trunk module {k.split(".")[0]}.* of a {owner}'
                    drops[pat] = drops.get(pat, 0) + 1
            return out, prefix
    return sd, ''


def convert_ir50(state_dict: Dict[str, torch.Tensor], depth: int = 50, num_stages: int = 3,
                 with_output_layer: bool = False) -> Tuple['OrderedDict[str, torch.Tensor]', dict]:
    """Map an IR state dict (layout A or B) to mmfer ``IResNet`` names (= layout A).

    Args:
        state_dict: the file's state dict (``module.`` prefix allowed; a QCS/POSTER ``ir_back.``
            or mmfer ``backbone.`` model checkpoint allowed).
        depth, num_stages, with_output_layer: the target ``IResNet``'s arguments (what it
            builds decides what is dropped).

    Returns:
        ``(mapped_state_dict, info)`` with ``info = dict(layout='A'|'B', trunk_prefix=...,
        dropped={pattern: count}, entries=<number kept>)``. The result is *not yet* compared
        with a model — :func:`load_ir50` / :func:`check_ir50` do that.
    """
    units = _stage_units(depth)
    drops: Dict[str, int] = OrderedDict()
    sd = strip_prefix(OrderedDict(state_dict))
    sd, trunk_prefix = _select_trunk(sd, drops)
    layout = detect_ir_layout(list(sd))
    out = OrderedDict()
    for k, v in sd.items():
        m = _LAYOUT_B.match(k) if layout == 'B' else None
        if m:
            s, u = _unit_b_to_a(int(m.group(1)), units)
            k = f'body{s}.{u}.{m.group(2)}'
        ma = _LAYOUT_A.match(k)
        if ma and int(ma.group(1)) > num_stages:
            pat = f'body{ma.group(1)}.* (stage {ma.group(1)} not built, num_stages={num_stages})'
            drops[pat] = drops.get(pat, 0) + 1
            continue
        if k.startswith('output_layer.') and not with_output_layer:
            pat = 'output_layer.* (face-recognition embedding, not built)'
            drops[pat] = drops.get(pat, 0) + 1
            continue
        out[k] = v
    info = dict(layout=layout, trunk_prefix=trunk_prefix, dropped=dict(drops), entries=len(out))
    return out, info


def _convert_named(source: str, *args, **kwargs):
    """:func:`convert_ir50` whose key errors name the file and print as lines."""
    try:
        return convert_ir50(*args, **kwargs)
    except CheckpointMismatchError:
        raise
    except KeyError as err:
        raise CheckpointMismatchError(f'{source}: {err.args[0]}', path=source) from None


def _nbt_ignore(sd: Dict[str, torch.Tensor]) -> Tuple[str, ...]:
    """Allow missing ``num_batches_tracked`` only when the file holds none at all."""
    if any(k.endswith('num_batches_tracked') for k in sd):
        return ()
    return (r'\.num_batches_tracked$', )


def check_ir50(model: torch.nn.Module, state_dict: Dict[str, torch.Tensor], info: dict,
               source: str = 'checkpoint') -> None:
    """Strict key/shape comparison with ``model``; the error names the detected layout."""
    layout_txt = ('layout A (body1/body2/body3 names)' if info['layout'] == 'A' else
                  'layout B (single body.N Sequential, mapped to body1..body4)')
    where = f"{source} [detected {layout_txt}"
    if info.get('trunk_prefix'):
        where += f", trunk taken from '{info['trunk_prefix']}*'"
    where += ']'
    try:
        check_state_dict(model, state_dict, source=where, ignore=_nbt_ignore(state_dict))
    except CheckpointMismatchError as err:
        # re-raise with the fix; the original message already lists keys and both shapes
        raise CheckpointMismatchError(f'{err}\n  {FIX_HINT}', path=source) from None


def load_ir_file(path: str):
    """Load an IR weight file without running pickled code.

    :func:`mmfer.utils.checkpoint.safe_torch_load` with ``allow_main_stubs=True``: the
    weights-only reader first; a QCS/POSTER training checkpoint (which pickles ``__main__``
    classes) is read by mmfer's restricted unpickler (tensor rebuilds, plain containers, numpy
    arrays, inert ``__main__`` stubs — nothing else).
    """
    if not osp.isfile(path):
        raise CheckpointNotFoundError(
            f'IR-50 weight file not found: {path}. {FIX_HINT} Download ir50.pth (POSTER_V2 / '
            "QCS release) and set backbone=dict(pretrained='<path>').", path=path)
    return safe_torch_load(path, allow_main_stubs=True)


def load_ir50(backbone: torch.nn.Module, checkpoint: Union[str, dict],
              logger: Optional[MMLogger] = None, source: Optional[str] = None) -> dict:
    """Load IR weights strictly into an ``IResNet`` (used by ``IResNet(pretrained=...)``).

    Detects the layout, maps B → A, drops only the declared parts, checks keys and shapes
    exactly, loads, and logs the layout, the number of entries loaded and every declared drop.

    Returns:
        The ``info`` dict of :func:`convert_ir50`.
    """
    if isinstance(checkpoint, str):
        source, obj = checkpoint, load_ir_file(checkpoint)
    else:
        source, obj = source or 'checkpoint', checkpoint
    sd, info = _convert_named(source, extract_state_dict(obj, source), depth=backbone.depth,
                              num_stages=backbone.num_stages,
                              with_output_layer=backbone.with_output_layer)
    check_ir50(backbone, sd, info, source=source)
    backbone.load_state_dict(sd, strict=False)
    lines = [f'IResNet-{backbone.depth} ({backbone.num_stages} stages): loaded {len(sd)} entries '
             f'from {source} (layout {info["layout"]}'
             + (f", trunk under '{info['trunk_prefix']}'" if info['trunk_prefix'] else '') + ')']
    for pat, n in info['dropped'].items():
        lines.append(f'  declared drop: {n} entries of {pat}')
    if not info['dropped']:
        lines.append('  declared drops: none')
    print_log('\n'.join(lines), logger=logger or 'current')
    return info


def load_into(module: torch.nn.Module, checkpoint, source: str = 'checkpoint', **kwargs) -> dict:
    """Entry point of :func:`mmfer.utils.checkpoint.load_pretrained` (``converter='ir50'``):
    ``checkpoint`` is already read; map, check strictly and load (:func:`load_ir50`)."""
    return load_ir50(module, checkpoint, source=source, **kwargs)


def convert_ir50_checkpoint(checkpoint, depth: int = 50, num_stages: int = 3,
                            with_output_layer: bool = False, prefix: str = '',
                            source: str = 'checkpoint') -> dict:
    """Convert a loaded IR file into ``dict(state_dict=..., meta=...)`` checked against a fresh
    ``IResNet`` of the given configuration; keys get ``prefix`` (e.g. ``'backbone.'``)."""
    from mmfer.models.backbones.ir50 import IResNet
    sd, info = _convert_named(source, extract_state_dict(checkpoint, source), depth, num_stages,
                              with_output_layer)
    with torch.device('meta'):  # names and shapes only
        model = IResNet(depth=depth, num_stages=num_stages,
                        out_indices=tuple(range(num_stages)), with_output_layer=with_output_layer)
    check_ir50(model, sd, info, source=source)
    meta = dict(converted_from=dict(
        source=f'IR-{depth} ({"layout " + info["layout"]})', file=source,
        dropped=info['dropped'], entries=len(sd), prefix=prefix,
        target=dict(type='IResNet', depth=depth, num_stages=num_stages,
                    with_output_layer=with_output_layer)))
    return dict(state_dict=OrderedDict((prefix + k, v) for k, v in sd.items()), meta=meta)


def ir50_key_list(depth: int = 50, num_stages: int = 3, with_output_layer: bool = False,
                  layout: str = 'A') -> List[str]:
    """The state-dict keys of an IR network in layout A or B (for tests and documentation)."""
    from mmfer.models.backbones.ir50 import IResNet
    with torch.device('meta'):
        model = IResNet(depth=depth, num_stages=num_stages,
                        out_indices=tuple(range(num_stages)), with_output_layer=with_output_layer)
    keys = list(model.state_dict())
    if layout == 'A':
        return keys
    units = _stage_units(depth)
    out = []
    for k in keys:
        m = _LAYOUT_A.match(k)
        if m:
            n = sum(units[:int(m.group(1)) - 1]) + int(m.group(2))
            k = f'body.{n}.{m.group(3)}'
        out.append(k)
    return out
