"""The one checkpoint module of mmfer: every unpickler, allow-list, load and write lives here.

**Reading.** Every file mmfer — or mmengine inside an mmfer run — reads is unpickled by one of
two allow-list readers, never by a plain ``pickle``/``torch.load``:

- :func:`safe_torch_load`: ``torch.load(path, weights_only=True)`` with the explicit argument,
  so torch's ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` cannot turn it off (torch reads that variable
  only when the caller leaves ``weights_only`` unset — ``torch/serialization.py``, ``load``).
  The allow-list is torch's own (tensors, plain containers) plus :data:`SAFE_GLOBALS`: numpy
  arrays / scalars / dtypes and mmengine's ``HistoryBuffer`` (message-hub logs).
- :class:`RestrictedUnpickler` (:func:`restricted_torch_load`, :func:`restricted_pickle_load`):
  a ``pickle.Unpickler`` whose ``find_class`` resolves only :data:`DATA_GLOBALS` (tensor, array
  and dtype reconstruction, ``OrderedDict``) and, on request, turns ``__main__.*`` classes
  (the recorders of released QCS/DCS checkpoints) or *every* other class into inert
  :class:`MainStub` stand-ins that run nothing. Used for QCS/DCS training files, IR-50 files
  taken from them, prediction dumps (``tools/test.py --out``) and
  ``tools/model_converters/resave_weights_only.py``.

A refusal raises :class:`UnsafeCheckpointError` naming the file, the global it needs, why it is
refused and how to convert a trusted file; a file that is not a checkpoint (text, truncated,
empty) raises :class:`CorruptCheckpointError` naming the path. Both are
:class:`CheckpointError` (a ``ValueError`` whose ``str`` is the multi-line text as lines).

**mmengine's loads.** Importing this module (``import mmfer`` does) registers
:func:`load_from_mmfer_safe_local` as mmengine's loader for local paths
(``CheckpointLoader.register_scheme(prefixes='', force=True)``): ``--resume``, auto-resume from
``last_checkpoint``, ``load_from=`` and ``init_cfg=dict(type='Pretrained', ...)`` all go
through :func:`safe_torch_load`. mmengine's remote schemes (``http://``, ``open-mmlab://`` ...)
are wrapped so that their ``torch.load`` runs with ``TORCH_FORCE_WEIGHTS_ONLY_LOAD=1`` (the
torch switch that overrides every call site) and refusals get mmfer's message.

**Loading into a model** (:func:`load_checkpoint`, used by ``FERClassifier(pretrained=...)``,
``init_model``, ``tools/test.py``, the converters and :class:`mmfer.engine.runner.FERRunner`):
take the state dict out of its container, strip ``module.``, apply a converter's key map, and
compare with the model — any missing, unexpected or mis-shaped key raises
:class:`CheckpointMismatchError` listing them and naming the file. Only loss state
(:data:`LOSS_STATE_KEYS`) may be absent where a caller says so.

**Writing.** :func:`atomic_write_bytes` / :func:`atomic_torch_save` write to a temporary file in
the target directory, ``fsync`` it and ``os.replace`` it into place: a failure midway (full
disk) leaves the previous file intact and no partial one. mmengine's local file backend is
replaced by :class:`AtomicLocalBackend` on import, so ``epoch_N.pth``, ``best_*.pth`` and
``last_checkpoint`` written by mmengine's ``CheckpointHook`` are atomic too.
"""
import _compat_pickle
import codecs
import contextlib
import functools
import importlib
import io
import os
import os.path as osp
import pickle
import re
import tempfile
import threading
import types
from collections import OrderedDict
from typing import Callable, Dict, Iterable, List, Optional, Union

import numpy as np
import torch
from mmengine.fileio.backends import LocalBackend
from mmengine.logging import HistoryBuffer, MMLogger, print_log

__all__ = [
    'LOSS_STATE_KEYS', 'SAFE_GLOBALS', 'DATA_GLOBALS', 'CheckpointError', 'CheckpointMismatchError',
    'UnsafeCheckpointError', 'CorruptCheckpointError', 'CheckpointNotFoundError', 'MainStub',
    'RestrictedUnpickler', 'safe_torch_load', 'restricted_torch_load', 'restricted_pickle_load',
    'refusal_message', 'stub_state_dict', 'tensors_only', 'extract_state_dict', 'strip_prefix',
    'state_dict_problems', 'check_state_dict', 'load_checkpoint', 'load_pretrained',
    'atomic_write_bytes', 'atomic_torch_save', 'AtomicLocalBackend', 'load_from_mmfer_safe_local',
    'register_mmengine_loaders', 'NUMPY_GLOBALS', 'NumpyOnlyUnpickler', 'numpy_pickle_load'
]

#: model keys of loss state (e.g. DAN's affinity centers): additive, trained with the model,
#: absent from converted official files, so loaders that predict or fine-tune may skip them
LOSS_STATE_KEYS = r'^head\.losses\.'

#: the fix printed when a file needs a global outside the allow-lists
CONVERT_HINT = (
    'If you trust the file, re-save its tensors and plain data only, without running its code:\n'
    '      python tools/model_converters/resave_weights_only.py {path} OUT.pth\n'
    '  (unknown classes become inert stand-ins: whole pickled nn.Modules give their state dict,\n'
    '  other objects are dropped and listed) and use OUT.pth. A released QCS/DCS/POSTER++\n'
    '  training file: tools/model_converters/qcs_to_mmfer.py. Setting weights_only=False or\n'
    '  TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 does not change what mmfer loads (it always passes\n'
    '  weights_only=True) and elsewhere would run the code the file carries.')


# ---------------------------------------------------------------------------------------------
# errors


class CheckpointError(ValueError):
    """A checkpoint cannot be used; ``str`` is the full multi-line message (lines, not ``\\n``).

    ``path`` is the file concerned (``None`` for an in-memory object).
    """

    def __init__(self, message: str, path: Optional[str] = None):
        super().__init__(message)
        self.path = path

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


class CheckpointMismatchError(CheckpointError, KeyError):
    """Missing, unexpected or mis-shaped keys between a file and a model (also a ``KeyError``)."""

    __str__ = CheckpointError.__str__


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """The file needs a global outside the allow-list; nothing of it was executed."""


class CorruptCheckpointError(CheckpointError):
    """The file is not a readable checkpoint: text, empty, truncated or otherwise damaged."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No such checkpoint file (also a ``FileNotFoundError``)."""

    __str__ = CheckpointError.__str__


# ---------------------------------------------------------------------------------------------
# allow-lists


def _numpy_safe_globals() -> list:
    """The numpy objects that numpy arrays, scalars and dtypes pickle through."""
    out = [np.ndarray, np.dtype]
    try:  # numpy 2 moved the reconstruct helpers to numpy._core
        from numpy.core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover
        from numpy._core.multiarray import _reconstruct, scalar
    out += [_reconstruct, scalar]
    # dtype classes (np.dtypes.Float64DType ...) appear in pickles written by numpy ≥ 1.25
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        out += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    return out


#: globals added to torch's weights-only allow-list (beyond tensors and plain containers)
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


def _safe_load_from_bytes(b: bytes):
    # plain-pickled tensors store their storage as torch.storage._load_from_bytes(bytes), which
    # would call torch.load(weights_only=False) on the bytes: load them weights-only instead
    return torch.load(io.BytesIO(b), weights_only=True)


def _latin1_encode(obj, encoding='utf-8', errors='strict'):
    # protocol 2 (torch.save's default) has no bytes opcode: array/storage bytes are pickled as
    # _codecs.encode(latin-1 text, 'latin1'); only that pure text→bytes conversion is allowed
    if str(encoding).lower().replace('_', '-') not in ('latin1', 'latin-1', 'iso-8859-1'):
        raise pickle.UnpicklingError(f'_codecs.encode with encoding {encoding!r} is not allowed')
    return codecs.encode(obj, encoding, errors)


def _data_globals() -> Dict[tuple, object]:
    """(module, name) → object for everything :class:`RestrictedUnpickler` may resolve."""
    allowed = {('collections', 'OrderedDict'): OrderedDict,
               ('_codecs', 'encode'): _latin1_encode,
               ('torch.storage', '_load_from_bytes'): _safe_load_from_bytes,
               ('builtins', 'set'): set,  # protocol 2 pickles sets as builtins.set(list)
               ('builtins', 'frozenset'): frozenset,
               ('torch', 'Size'): torch.Size,
               ('torch', 'device'): torch.device,
               ('numpy', 'ndarray'): np.ndarray,
               ('numpy', 'dtype'): np.dtype}
    for name in ('_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_parameter',
                 '_rebuild_parameter_with_state', '_rebuild_qtensor'):
        if hasattr(torch._utils, name):
            allowed[('torch._utils', name)] = getattr(torch._utils, name)
    for name in dir(torch):  # torch.float32 ... pickle as GLOBAL torch.<name>
        if isinstance(getattr(torch, name, None), torch.dtype):
            allowed[('torch', name)] = getattr(torch, name)
    helpers = [f for f in _numpy_safe_globals() if getattr(f, '__name__', '') in
               ('_reconstruct', 'scalar')]
    for mod in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        for fn in helpers:
            allowed[(mod, fn.__name__)] = fn
    try:
        from numpy.core.numeric import _frombuffer
    except ImportError:  # pragma: no cover
        from numpy._core.numeric import _frombuffer
    for mod in ('numpy.core.numeric', 'numpy._core.numeric'):
        allowed[(mod, '_frombuffer')] = _frombuffer
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        for n in dir(dtypes):
            if n.endswith('DType'):
                allowed[('numpy.dtypes', n)] = getattr(dtypes, n)
    return allowed


#: what :class:`RestrictedUnpickler` resolves: reconstruction of data, never behaviour
DATA_GLOBALS = _data_globals()


class MainStub:
    """Inert stand-in for a class the restricted unpickler does not know (e.g. the
    ``__main__.RecorderMeter`` of a QCS training script).

    Construction ignores its arguments (kept in ``_pickled_args``); ``__setstate__`` only stores
    the pickled state in ``_pickled_state``. No method of the original class exists, so nothing
    of it can run.
    """

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.__dict__['_pickled_args'] = args
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.__dict__['_pickled_state'] = state

    def __repr__(self):
        return f'<inert stub of {getattr(type(self), "_stub_of", type(self).__name__)}>'


def _python3_name(module: str, name: str):
    """Protocol ≤ 2 pickles carry Python 2 names (``__builtin__.set``); pickle's own
    ``find_class`` maps them back, an overriding ``find_class`` has to do it itself."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` resolves only :data:`DATA_GLOBALS`.

    Args (keyword, after the file):
        stub_main: map ``__main__.<Name>`` to a fresh :class:`MainStub` subclass named ``Name``.
        stub_all: map *every* other global to a stub (for re-saving a trusted file's data; a
            stub of ``os.system`` called with arguments only records them).
        source: file name used in refusal messages.
        fix: what the refusal message advises; ``None`` gives :data:`CONVERT_HINT`.

    torch wraps this class when it is the ``pickle_module`` of ``torch.load`` (to resolve
    ``*Storage`` names and persistent ids); every other global reaches :meth:`find_class`.
    """

    stub_main = False
    stub_all = False
    source = 'pickle'
    fix = None

    def __init__(self, file, *args, stub_main: Optional[bool] = None,
                 stub_all: Optional[bool] = None, source: Optional[str] = None,
                 fix: Optional[str] = None, **kwargs):
        super().__init__(file, *args, **kwargs)
        for name, value in (('stub_main', stub_main), ('stub_all', stub_all),
                            ('source', source), ('fix', fix)):
            if value is not None:
                setattr(self, name, value)
        self._stubs: Dict[str, type] = {}

    def _stub(self, module: str, name: str) -> type:
        key = f'{module}.{name}'
        if key not in self._stubs:
            self._stubs[key] = type(name, (MainStub, ), {
                '__module__': __name__, '__qualname__': f'MainStub[{name}]', '_stub_of': key})
        return self._stubs[key]

    def find_class(self, module: str, name: str):
        module, name = _python3_name(module, name)
        obj = DATA_GLOBALS.get((module, name))
        if obj is not None:
            return obj
        if module == '__main__' and (self.stub_main or self.stub_all):
            return self._stub(module, name)
        if self.stub_all:
            return self._stub(module, name)
        fix = self.fix if self.fix is not None else CONVERT_HINT.format(path=self.source)
        raise UnsafeCheckpointError(
            f'{self.source}: refused to unpickle global {module}.{name}: it is not on mmfer\'s '
            'allow-list (tensor/array reconstruction, OrderedDict'
            + (', inert stand-ins for __main__ classes' if self.stub_main else '') + ').\n'
            '  Why: unpickling any other global can run arbitrary code. Nothing from the file '
            'was executed.\n  ' + fix, path=self.source)


def _restricted_module(**options) -> types.ModuleType:
    """A ``pickle``-like module for ``torch.load(pickle_module=...)`` using the options."""

    class _Unpickler(RestrictedUnpickler):
        pass

    for k, v in options.items():
        setattr(_Unpickler, k, v)
    mod = types.ModuleType('mmfer_restricted_pickle')
    mod.Unpickler = _Unpickler
    mod.UnpicklingError = pickle.UnpicklingError
    mod.load = lambda file, **kw: _Unpickler(file, **kw).load()
    mod.__name__ = 'mmfer_restricted_pickle'
    return mod


# ---------------------------------------------------------------------------------------------
# reading files

_GLOBAL_RE = re.compile(r'GLOBAL (\S+) was not an allowed global')
# (an 'Unsupported operand' refusal is what arbitrary bytes give: reported as a damaged file)
_REASON_RES = (re.compile(r'(Trying to [^\n.]*)'), re.compile(r'(whose module \S+ is blocked)'))
#: RuntimeError texts of torch that mean "the bytes are not an intact checkpoint"
_CORRUPT_RUNTIME = ('PytorchStreamReader', 'zip archive', 'Invalid magic number', 'corrupted',
                    'unexpected EOF', 'file_size', 'storage has wrong')


def _check_file(path, what: str = 'checkpoint') -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f'expected a {what} path, got {type(path).__name__}')
    path = osp.expanduser(os.fspath(path))
    if not osp.isfile(path):
        raise CheckpointNotFoundError(
            f'{what} file not found: {path}' + ('' if osp.exists(path) else
                                                 ' (check the path; relative paths are '
                                                 f'resolved from {os.getcwd()})'), path=path)
    return path


def _torch_reason(text: str) -> str:
    """The cause inside torch's weights-only error text, without its "re-run with
    weights_only=False" advice and documentation link."""
    if 'WeightsUnpickler error:' in text:
        text = text.split('WeightsUnpickler error:', 1)[1]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not any(
        s in ln for s in ('weights_only', 'Check the documentation', 'Weights only load failed'))]
    return lines[0] if lines else '(no text)'


def _corrupt(path: str, err: BaseException) -> CorruptCheckpointError:
    size = osp.getsize(path) if osp.isfile(path) else -1
    detail = f'{type(err).__name__}: {_torch_reason(str(err))}'
    return CorruptCheckpointError(
        f'{path}: not a readable PyTorch checkpoint ({size} bytes; {detail}).\n'
        '  The file is not a checkpoint (e.g. a text or HTML page saved under a .pth name), or it '
        'is empty, truncated or damaged (an interrupted copy, download or save).\n'
        '  Fix: compare its size / checksum with the source and copy or download it again; '
        'checkpoints written by mmfer are atomic, so an interrupted save leaves the previous '
        'epoch_N.pth usable.', path=path)


def refusal_message(path: str, torch_message: str) -> str:
    """mmfer's text for a weights-only refusal (replaces torch's "re-run with
    weights_only=False" advice): which global the file needs, why it is refused, what to do."""
    m = _GLOBAL_RE.search(torch_message)
    if m:
        need = f'the Python global `{m.group(1)}`'
    else:
        reason = next((r.search(torch_message) for r in _REASON_RES
                       if r.search(torch_message)), None)
        need = ('a pickle operation outside the allow-list (' + reason.group(1) + ')'
                if reason else 'a pickle construct outside the allow-list')
    return (f'{path}: refused to load: the file needs {need}, which is not on mmfer\'s '
            'allow-list.\n'
            '  Why: mmfer reads checkpoints with torch.load(weights_only=True) plus an allow-list '
            '(tensors, plain containers, numpy arrays/scalars/dtypes, mmengine\'s HistoryBuffer: '
            'mmfer.utils.checkpoint.SAFE_GLOBALS), whatever the environment says; unpickling any '
            'other global can run arbitrary code. Nothing from the file was executed.\n  '
            + CONVERT_HINT.format(path=path))


def safe_torch_load(path, map_location='cpu', allow_main_stubs: bool = False):
    """Read a checkpoint with ``torch.load(weights_only=True)`` and mmfer's allow-list.

    Args:
        path: the file.
        map_location: as for ``torch.load``.
        allow_main_stubs: when the weights-only reader refuses the file for a ``__main__``
            class, retry with :func:`restricted_torch_load` (``__main__`` classes become inert
            stubs) — for official training checkpoints (QCS/DCS/POSTER++) that pickle their
            script's classes.

    Raises:
        CheckpointNotFoundError: no such file (a ``FileNotFoundError``).
        UnsafeCheckpointError: the file needs a global outside the allow-list (also a
            ``pickle.UnpicklingError``); the payload is never executed.
        CorruptCheckpointError: not a readable checkpoint (text, empty, truncated).
    """
    path = _check_file(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        if _GLOBAL_RE.search(text) or any(r.search(text) for r in _REASON_RES):
            needed = (_GLOBAL_RE.search(text) or [None, ''])[1]
            if allow_main_stubs and needed.startswith('__main__.'):
                print_log(f'{path}: the weights-only reader refused {needed} (a training '
                          "script's class); reading it with mmfer's restricted unpickler "
                          '(inert __main__ stubs)', logger='current')
                return restricted_torch_load(path, map_location=map_location)
            raise UnsafeCheckpointError(refusal_message(path, text), path=path) from None
        raise _corrupt(path, err) from None
    except RuntimeError as err:
        if 'TorchScript' in str(err):
            raise CheckpointError(
                f'{path}: a TorchScript archive, not a checkpoint: mmfer loads state dicts. '
                'Fix (trusted file only): torch.save({"state_dict": torch.jit.load(PATH)'
                '.state_dict()}, OUT.pth).', path=path) from None
        if any(s in str(err) for s in _CORRUPT_RUNTIME):
            raise _corrupt(path, err) from None
        raise
    except (EOFError, KeyError, ValueError, IndexError, UnicodeDecodeError, AttributeError,
            TypeError, OverflowError, MemoryError) as err:
        # torch's legacy reader fails on arbitrary bytes with these (text → KeyError '101')
        raise _corrupt(path, err) from None


def restricted_torch_load(path, map_location='cpu', stub_main: bool = True,
                          stub_all: bool = False):
    """``torch.load`` through :class:`RestrictedUnpickler` (explicit ``weights_only=False`` with
    mmfer's pickle module, so no environment variable changes it).

    For files the weights-only reader refuses because they pickle classes of a training script
    (released QCS/DCS checkpoints): ``__main__.*`` becomes an inert :class:`MainStub`
    (``stub_main``); ``stub_all`` stubs every unknown class (used only by
    ``tools/model_converters/resave_weights_only.py``).

    Raises:
        CheckpointNotFoundError, UnsafeCheckpointError, CorruptCheckpointError (as
        :func:`safe_torch_load`).
    """
    path = _check_file(path)
    module = _restricted_module(stub_main=stub_main, stub_all=stub_all, source=path)
    try:
        return torch.load(path, map_location=map_location, pickle_module=module,
                          weights_only=False)
    except UnsafeCheckpointError:
        raise
    except pickle.UnpicklingError as err:
        raise _corrupt(path, err) from None
    except RuntimeError as err:
        if any(s in str(err) for s in _CORRUPT_RUNTIME):
            raise _corrupt(path, err) from None
        raise
    except (EOFError, KeyError, ValueError, IndexError, UnicodeDecodeError, AttributeError,
            TypeError, OverflowError, MemoryError) as err:
        raise _corrupt(path, err) from None


def restricted_pickle_load(path, what: str = 'pickle file', fix: Optional[str] = None):
    """Read a plain pickle (e.g. a ``DumpResults`` prediction dump) through
    :class:`RestrictedUnpickler`: dicts, lists, numbers, strings, tensors and arrays only.

    Raises:
        CheckpointNotFoundError, UnsafeCheckpointError (with ``fix`` as the advice),
        CorruptCheckpointError.
    """
    path = _check_file(path, what)
    with open(path, 'rb') as f:
        try:
            return RestrictedUnpickler(f, source=path, fix=fix).load()
        except UnsafeCheckpointError:
            raise
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError, IndexError,
                AttributeError, TypeError, UnicodeDecodeError) as err:
            raise _corrupt(path, err) from None


def stub_state_dict(obj, prefix: str = '') -> 'OrderedDict[str, torch.Tensor]':
    """State dict of a whole pickled ``nn.Module`` read with stubs (its ``_parameters``,
    ``_buffers`` and ``_modules``, recursively); empty if ``obj`` is not such a stub."""
    out = OrderedDict()
    state = getattr(obj, '_pickled_state', None) if isinstance(obj, MainStub) else None
    if not isinstance(state, dict) or '_modules' not in state:
        return out
    non_persistent = set(state.get('_non_persistent_buffers_set') or ())
    for group in ('_parameters', '_buffers'):
        for k, v in (state.get(group) or {}).items():
            if isinstance(v, torch.Tensor) and k not in non_persistent:
                out[prefix + k] = v.detach() if v.requires_grad else v
    for name, child in (state.get('_modules') or {}).items():
        out.update(stub_state_dict(child, f'{prefix}{name}.'))
    return out


def tensors_only(obj, where: str = '', dropped: Optional[List[str]] = None):
    """Copy of ``obj`` keeping tensors, arrays, numbers, strings and containers of them;
    a stubbed whole ``nn.Module`` becomes its state dict; other stubs are dropped and their
    places appended to ``dropped``."""
    dropped = [] if dropped is None else dropped
    if isinstance(obj, MainStub):
        sd = stub_state_dict(obj)
        if sd:
            return sd
        dropped.append(f'{where or "<root>"} ({type(obj)._stub_of})')
        return None
    if isinstance(obj, (torch.Tensor, np.ndarray, np.generic, str, bytes, int, float, bool,
                        complex, type(None), torch.Size, torch.device, torch.dtype)):
        return obj
    if isinstance(obj, dict):
        out = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            kept = tensors_only(v, f'{where}.{k}' if where else str(k), dropped)
            if kept is not None or v is None:
                out[k] = kept
        return out
    if isinstance(obj, (list, tuple)):
        items = [tensors_only(v, f'{where}[{i}]', dropped) for i, v in enumerate(obj)]
        return type(obj)(items) if type(obj) in (list, tuple) else list(items)
    dropped.append(f'{where or "<root>"} ({type(obj).__name__})')
    return None


# ---------------------------------------------------------------------------------------------
# state dicts and models


def extract_state_dict(obj, source: str = 'checkpoint') -> Dict[str, torch.Tensor]:
    """Return the state dict held by a checkpoint container.

    Raises:
        CheckpointError: no dict of tensors under ``state_dict`` / ``model_state_dict`` /
            ``model`` or at the top level (names ``source``).
    """
    if isinstance(obj, dict):
        for key in ('state_dict', 'model_state_dict', 'model'):
            if key in obj and isinstance(obj[key], dict):
                return obj[key]
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
    top = sorted(map(str, obj))[:10] if isinstance(obj, dict) else type(obj).__name__
    raise CheckpointError(
        f'{source}: no state dict found in the checkpoint: expected a dict of tensors or a '
        f"container with 'state_dict' / 'model_state_dict' / 'model' (top level: {top}).",
        path=source)


def strip_prefix(state_dict: Dict[str, torch.Tensor], prefix: str = 'module.'):
    """Remove ``prefix`` from every key that starts with it."""
    return OrderedDict((k[len(prefix):] if k.startswith(prefix) else k, v)
                       for k, v in state_dict.items())


def state_dict_problems(model: torch.nn.Module, state_dict: Dict[str, torch.Tensor],
                        ignore: Iterable[str] = ()) -> Dict[str, List[str]]:
    """``dict(missing=..., unexpected=..., mismatched=...)`` between ``model`` and a file.

    ``ignore`` holds regular expressions of model keys that may be absent from the file.
    """
    ignore_res = [re.compile(p) for p in ignore]
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict and not any(r.search(k) for r in ignore_res)]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [f'{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}'
                  for k, v in state_dict.items()
                  if k in own and hasattr(v, 'shape') and tuple(v.shape) != tuple(own[k].shape)]
    return dict(missing=missing, unexpected=unexpected, mismatched=mismatched)


def check_state_dict(model: torch.nn.Module, state_dict: Dict[str, torch.Tensor],
                     source: str = 'checkpoint', ignore: Iterable[str] = (),
                     fix: Optional[str] = None) -> None:
    """Raise :class:`CheckpointMismatchError` listing missing / unexpected / mis-shaped keys.

    ``ignore`` holds regular expressions of model keys that may legitimately be absent from
    the file (e.g. :data:`LOSS_STATE_KEYS`); ``fix`` replaces the default last line.
    """
    problems = state_dict_problems(model, state_dict, ignore)
    if not any(problems.values()):
        return
    lines = [f'{source} does not match {type(model).__name__}:']
    for title, keys in (('missing keys', problems['missing']),
                        ('unexpected keys', problems['unexpected']),
                        ('shape mismatches', problems['mismatched'])):
        if keys:
            shown = keys[:20] + ([f'... ({len(keys) - 20} more)'] if len(keys) > 20 else [])
            lines.append(f'  {len(keys)} {title}: ' + ', '.join(shown))
    lines.append('  ' + (fix or 'Convert official weights with tools/model_converters/ first; '
                         'mmfer never loads a partial match.'))
    raise CheckpointMismatchError('\n'.join(lines), path=source)


def load_checkpoint(model: torch.nn.Module, filename: Union[str, dict],
                    key_map: Optional[Callable[[Dict], Dict]] = None, strict: bool = True,
                    prefix: str = '', ignore_missing: Iterable[str] = (),
                    logger: Optional[MMLogger] = None, source: Optional[str] = None) -> dict:
    """Load weights into ``model`` through the single safe path.

    Args:
        model: the module to load into.
        filename: a path (read with :func:`safe_torch_load`), or an already loaded checkpoint.
        key_map: callable mapping the (prefix-stripped) state dict to the model's names; a
            converter's mapping.  It must raise on keys it does not know.
        strict: when True (default) any mismatch raises; ``False`` is only for callers that
            check the result themselves and is never used by mmfer's own code.
        prefix: a prefix the model keys carry that the file's keys lack (e.g. ``backbone.``
            when a backbone file is loaded into a whole classifier).
        ignore_missing: regular expressions of model keys allowed to be absent.
        source: the file name for messages when ``filename`` is a loaded object.

    Returns:
        The loaded checkpoint object (to read its ``meta``).
    """
    logger = logger or MMLogger.get_current_instance()
    is_path = isinstance(filename, (str, os.PathLike))
    source = os.fspath(filename) if is_path else (source or 'checkpoint')
    ckpt = safe_torch_load(filename) if is_path else filename
    sd = strip_prefix(extract_state_dict(ckpt, source))
    if key_map is not None:
        sd = key_map(sd)
    if prefix:
        sd = OrderedDict((prefix + k, v) for k, v in sd.items())
    if strict:
        check_state_dict(model, sd, source=source, ignore=ignore_missing)
    model.load_state_dict(sd, strict=False)
    logger.info(f'loaded {len(sd)} entries into {type(model).__name__} from {source}')
    return ckpt


def load_pretrained(module: torch.nn.Module, checkpoint: Union[str, dict], converter: str,
                    **kwargs):
    """Load a pretrained file into ``module`` through the converter module
    ``mmfer.utils.converters.<converter>`` (its ``load_into(module, obj, source, **kwargs)``).

    The file is read here (weights-only, with inert ``__main__`` stubs for official training
    checkpoints); the converter only maps and checks keys. Models call this instead of
    importing converters, so ``mmfer.models`` never imports ``mmfer.utils.converters`` at
    import time (no import cycle).
    """
    source = os.fspath(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else \
        'checkpoint'
    obj = safe_torch_load(checkpoint, allow_main_stubs=True) if source != 'checkpoint' \
        else checkpoint
    conv = importlib.import_module(f'mmfer.utils.converters.{converter}')
    return conv.load_into(module, obj, source=source, **kwargs)


# ---------------------------------------------------------------------------------------------
# atomic writes

_UMASK = os.umask(0)
os.umask(_UMASK)
_CHUNK = 1 << 22


def atomic_write_bytes(data: bytes, path) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same directory
    (``.<name>.<random>.tmp``), ``fsync``, then ``os.replace``. On any failure (e.g. ``ENOSPC``
    midway) the temporary file is removed and ``path`` keeps its previous content, if any."""
    path = os.fspath(path)
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=directory)
    try:
        view = memoryview(data)
        while len(view):
            n = os.write(fd, view[:_CHUNK])
            view = view[n:]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_torch_save(obj, path) -> None:
    """``torch.save(obj, path)`` through :func:`atomic_write_bytes`."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(buf.getbuffer(), path)


class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` whose ``put`` / ``put_text`` write a temporary file in the
    same directory and ``os.replace`` it into place (:func:`atomic_write_bytes`); installed as
    mmengine's ``local`` (and the deprecated ``FileClient``'s ``disk``) backend on import."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write_bytes(obj.encode(encoding), filepath)


def _install_atomic_local_backend() -> None:
    """Make mmengine's local file backend write atomically (checkpoints, ``last_checkpoint``)."""
    from mmengine.fileio import io as mm_io
    from mmengine.fileio.backends import register_backend
    from mmengine.fileio.file_client import FileClient
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    # the deprecated FileClient path (CheckpointHook(file_client_args=...)) uses 'disk'
    FileClient.register_backend('disk', AtomicLocalBackend, force=True)
    for key, inst in list(mm_io.backend_instances.items()):  # instances made before import
        if type(inst) is LocalBackend:
            mm_io.backend_instances[key] = AtomicLocalBackend()


_install_atomic_local_backend()


# ---------------------------------------------------------------------------------------------
# mmengine's checkpoint loading

_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def _forced_weights_only():
    """Environment under which every ``torch.load`` is weights-only, whatever its arguments."""
    with _ENV_LOCK:
        saved = {k: os.environ.get(k) for k in ('TORCH_FORCE_WEIGHTS_ONLY_LOAD',
                                                'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD')}
        os.environ['TORCH_FORCE_WEIGHTS_ONLY_LOAD'] = '1'
        os.environ.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def load_from_mmfer_safe_local(filename, map_location=None):
    """mmengine ``CheckpointLoader`` scheme for local paths: :func:`safe_torch_load`."""
    return safe_torch_load(filename, map_location=map_location)


def _wrap_remote(loader):
    @functools.wraps(loader)
    def wrapped(filename, *args, **kwargs):
        with _forced_weights_only():
            try:
                return loader(filename, *args, **kwargs)
            except pickle.UnpicklingError as err:
                if isinstance(err, CheckpointError):
                    raise
                raise UnsafeCheckpointError(refusal_message(filename, str(err)),
                                            path=filename) from None

    wrapped._mmfer_weights_only = True
    return wrapped


def register_mmengine_loaders() -> None:
    """Route mmengine's checkpoint loading through mmfer's readers (idempotent; on import)."""
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_mmfer_safe_local, force=True)
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if prefix and not getattr(loader, '_mmfer_weights_only', False):
            CheckpointLoader.register_scheme(prefixes=prefix, loader=_wrap_remote(loader),
                                             force=True)


register_mmengine_loaders()


# ---------------------------------------------------------------------------------------------
# pickles of numpy arrays (VGGFace2 ``*_ft_weight.pkl``)

#: the globals a pickle of numpy arrays needs: ndarray / dtype reconstruction, nothing else
#: (``_codecs.encode`` only as the latin-1 text→bytes step protocol-2 writers use)
NUMPY_GLOBALS = {k: v for k, v in DATA_GLOBALS.items()
                 if k[0].startswith('numpy') or k == ('_codecs', 'encode')}


class NumpyOnlyUnpickler(RestrictedUnpickler):
    """:class:`RestrictedUnpickler` narrowed to :data:`NUMPY_GLOBALS`: numpy arrays, dtypes
    and scalars in plain containers; no tensor, no stub, no other global."""

    def find_class(self, module: str, name: str):
        module, name = _python3_name(module, name)
        obj = NUMPY_GLOBALS.get((module, name))
        if obj is not None:
            return obj
        raise UnsafeCheckpointError(
            f'{self.source}: refused to unpickle global {module}.{name}: a numpy weight file may '
            'only hold numpy arrays (ndarray/dtype reconstruction) in plain containers.\n'
            '  Why: unpickling any other global can run arbitrary code. Nothing from the file '
            'was executed.\n  ' + (self.fix or 'Use the original file of the release.'),
            path=self.source)


def numpy_pickle_load(path, encoding: str = 'latin1', what: str = 'numpy weight',
                      fix: Optional[str] = None) -> Dict[str, np.ndarray]:
    """Read a pickle of a plain dict ``name → numpy array`` (e.g. VGGFace2's
    ``senet50_ft_weight.pkl``, written by Python 2: ``encoding='latin1'``) through
    :class:`NumpyOnlyUnpickler`.

    Raises:
        CheckpointNotFoundError: no such file.
        UnsafeCheckpointError: the file needs any global besides numpy array reconstruction.
        CorruptCheckpointError: not a readable pickle, or not a dict of str → ndarray.
    """
    path = _check_file(path, what)
    with open(path, 'rb') as f:
        try:
            obj = NumpyOnlyUnpickler(f, source=path, fix=fix, encoding=encoding).load()
        except UnsafeCheckpointError:
            raise
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError, IndexError,
                AttributeError, TypeError, UnicodeDecodeError) as err:
            raise _corrupt(path, err) from None
    bad = ([type(obj).__name__] if not isinstance(obj, dict) else
           [f'{k!r}: {type(v).__name__}' for k, v in obj.items()
            if not isinstance(k, str) or not isinstance(v, np.ndarray)])
    if bad:
        raise CorruptCheckpointError(
            f'{path}: expected a pickled dict of name → numpy array, found {bad[:5]}'
            + (f' ... ({len(bad) - 5} more)' if len(bad) > 5 else '') + '.', path=path)
    return obj
