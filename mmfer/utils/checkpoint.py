"""The one checkpoint-loading path of mmfer.

torch ≥ 2.6 loads with ``weights_only=True``: only tensors, plain containers and allow-listed
globals are unpickled.  mmengine 0.10.7 checkpoints also hold its ``HistoryBuffer`` (message
hub logs) and numpy arrays / scalars / dtypes.  Importing this module adds exactly those types
to torch's safe globals — safe loading stays on for everything else, so a pickle that would
call an arbitrary function (``os.system`` ...) is still refused.

``load_checkpoint`` is what every converter and ``FERClassifier(pretrained=...)`` uses:

1. ``torch.load(path, map_location='cpu', weights_only=True)``;
2. take the state dict out of its container (``state_dict`` / ``model_state_dict`` / ``model``);
3. strip ``module.`` prefixes (DataParallel / DDP);
4. apply an optional key map (a converter's renaming function) and declared drop patterns;
5. compare with the model: any missing key, unexpected key or shape mismatch raises an error
   that lists them — no silent partial loads.
"""
import re
from collections import OrderedDict
from typing import Callable, Dict, Iterable, Optional, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, MMLogger


def _numpy_safe_globals() -> list:
    """The numpy objects that numpy arrays, scalars and dtypes pickle through."""
    out = [np.ndarray, np.dtype]
    try:  # numpy ≥ 1.25 moved the reconstruct helpers to numpy._core in 2.x
        from numpy.core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover
        from numpy._core.multiarray import _reconstruct, scalar
    out += [_reconstruct, scalar]
    # dtype classes (np.dtypes.Float64DType ...) appear in pickles written by numpy ≥ 1.25
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        out += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    return out


SAFE_GLOBALS = [HistoryBuffer] + _numpy_safe_globals()
torch.serialization.add_safe_globals(SAFE_GLOBALS)


def _history_buffer_getstate(self) -> dict:
    """Pickle a HistoryBuffer without its statistics methods.

    mmengine's own ``__getstate__`` stores the class-level ``_statistics_methods`` dict, whose
    values pickle as ``builtins.getattr(HistoryBuffer, 'min')``.  Allow-listing ``getattr``
    for weights-only loading would let a crafted file reach any attribute of any allowed
    object (e.g. ``ndarray.tofile`` to write files), so instead mmfer does not write them:
    they are class-level defaults that every process re-registers (see below), and mmengine's
    ``__setstate__`` already accepts a state without them.
    """
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    return state


HistoryBuffer.__getstate__ = _history_buffer_getstate
HistoryBuffer()._set_default_statistics()  # defaults exist before any buffer is unpickled


def safe_torch_load(path: str, map_location='cpu'):
    """``torch.load`` with ``weights_only=True`` and mmfer's allow-list.

    Raises:
        FileNotFoundError: the file does not exist.
        pickle.UnpicklingError: the file needs a global outside the allow-list (e.g. a
            malicious payload or a training-script class); the payload is never executed.
    """
    import os.path as osp
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint file not found: {path}')
    return torch.load(path, map_location=map_location, weights_only=True)


def extract_state_dict(obj) -> Dict[str, torch.Tensor]:
    """Return the state dict held by a checkpoint container."""
    if isinstance(obj, dict):
        for key in ('state_dict', 'model_state_dict', 'model'):
            if key in obj and isinstance(obj[key], dict):
                return obj[key]
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
    raise ValueError('no state dict found in the checkpoint: expected a dict of tensors or a '
                     "container with 'state_dict' / 'model_state_dict' / 'model'")


def strip_prefix(state_dict: Dict[str, torch.Tensor], prefix: str = 'module.'):
    """Remove ``prefix`` from every key that starts with it."""
    return OrderedDict((k[len(prefix):] if k.startswith(prefix) else k, v)
                       for k, v in state_dict.items())


def check_state_dict(model: torch.nn.Module, state_dict: Dict[str, torch.Tensor],
                     source: str = 'checkpoint', ignore: Iterable[str] = ()) -> None:
    """Raise ``KeyError`` listing missing / unexpected / mis-shaped keys, if any.

    ``ignore`` holds regular expressions of model keys that may legitimately be absent from
    the file (e.g. loss state such as DAN's affinity centers).
    """
    ignore_res = [re.compile(p) for p in ignore]
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict and not any(r.search(k) for r in ignore_res)]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [f'{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}'
                  for k, v in state_dict.items()
                  if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if missing or unexpected or mismatched:
        lines = [f'{source} does not match {type(model).__name__}:']
        for title, keys in (('missing keys', missing), ('unexpected keys', unexpected),
                            ('shape mismatches', mismatched)):
            if keys:
                shown = keys[:20] + ([f'... ({len(keys) - 20} more)'] if len(keys) > 20 else [])
                lines.append(f'  {len(keys)} {title}: ' + ', '.join(shown))
        lines.append('  Convert official weights with tools/model_converters/ first; mmfer '
                     'never loads a partial match.')
        raise KeyError('\n'.join(lines))


def load_checkpoint(model: torch.nn.Module, filename: Union[str, dict],
                    key_map: Optional[Callable[[Dict], Dict]] = None, strict: bool = True,
                    prefix: str = '', ignore_missing: Iterable[str] = (),
                    logger: Optional[MMLogger] = None) -> dict:
    """Load weights into ``model`` through the single safe path.

    Args:
        model: the module to load into.
        filename: a path, or an already loaded checkpoint object.
        key_map: callable mapping the (prefix-stripped) state dict to the model's names; a
            converter's mapping.  It must raise on keys it does not know.
        strict: when True (default) any mismatch raises; ``False`` is only for callers that
            check the result themselves and is never used by mmfer's own code.
        prefix: a prefix the model keys carry that the file's keys lack (e.g. ``backbone.``
            when a backbone file is loaded into a whole classifier).
        ignore_missing: regular expressions of model keys allowed to be absent.

    Returns:
        The loaded checkpoint object (to read its ``meta``).
    """
    logger = logger or MMLogger.get_current_instance()
    ckpt = safe_torch_load(filename) if isinstance(filename, str) else filename
    sd = strip_prefix(extract_state_dict(ckpt))
    if key_map is not None:
        sd = key_map(sd)
    if prefix:
        sd = OrderedDict((prefix + k, v) for k, v in sd.items())
    if strict:
        check_state_dict(model, sd, source=str(filename) if isinstance(filename, str)
                         else 'checkpoint', ignore=ignore_missing)
    model.load_state_dict(sd, strict=False)
    logger.info(f'loaded {len(sd)} entries into {type(model).__name__} from '
                f'{filename if isinstance(filename, str) else "checkpoint"}')
    return ckpt
