"""Canonical expression names, dataset class orders, name aliases and index remapping.

Every FER dataset numbers the same expressions differently (datasets.md §1). mmfer names them
with eight canonical names and converts between orders *by name*:

    canonical: Surprise, Fear, Disgust, Happiness, Sadness, Anger, Neutral, Contempt

A remapping vector ``v`` from a source order ``S`` to a target order ``T`` has one entry per source
index: ``v[i] = T.index(S[i])``, so a label ``y`` in ``S`` becomes ``v[y]`` in ``T``. For example
RAF-DB → AffectNet is ``(3, 4, 5, 1, 2, 6, 0)``.

A class order is given either as a preset name (``'rafdb'``, ``'affectnet'``, ``'affectnet7'``,
``'ferplus'``, ``'ferplus7'``, ``'fer2013'``, ...), as a sequence of names (aliases such as
``'Happy'`` or ``'angry'`` are accepted, case-insensitively) or as a text file with one name a line.
"""
import os.path as osp
from typing import Dict, Iterable, Sequence, Tuple, Union

import numpy as np

CANONICAL_CLASSES: Tuple[str, ...] = ('Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness',
                                      'Anger', 'Neutral', 'Contempt')

_RAFDB = ('Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral')
_AFFECTNET = ('Neutral', 'Happiness', 'Sadness', 'Surprise', 'Fear', 'Disgust', 'Anger', 'Contempt')
_FERPLUS = ('Neutral', 'Happiness', 'Surprise', 'Sadness', 'Anger', 'Disgust', 'Fear', 'Contempt')
_FER2013 = ('Anger', 'Disgust', 'Fear', 'Happiness', 'Sadness', 'Surprise', 'Neutral')

#: Named class orders (datasets.md §1). SFEW, KDEF and SynthFER have no numeric order of their
#: own; mmfer gives them the RAF-DB order.
CLASS_ORDERS: Dict[str, Tuple[str, ...]] = {
    'canonical': CANONICAL_CLASSES,
    'rafdb': _RAFDB,
    'affectnet': _AFFECTNET,
    'affectnet8': _AFFECTNET,
    'affectnet7': _AFFECTNET[:7],
    'ferplus': _FERPLUS,
    'ferplus8': _FERPLUS,
    'ferplus7': _FERPLUS[:7],
    'fer2013': _FER2013,
    'sfew': _RAFDB,
    'kdef': _RAFDB,
    'synthfer': _RAFDB,
}

#: Accepted spellings (lower case) → canonical name.
ALIASES: Dict[str, str] = {
    'surprise': 'Surprise', 'surprised': 'Surprise',
    'fear': 'Fear', 'afraid': 'Fear', 'fearful': 'Fear',
    'disgust': 'Disgust', 'disgusted': 'Disgust',
    'happiness': 'Happiness', 'happy': 'Happiness',
    'sadness': 'Sadness', 'sad': 'Sadness',
    'anger': 'Anger', 'angry': 'Anger',
    'neutral': 'Neutral',
    'contempt': 'Contempt',
}

#: KDEF file-name expression codes (datasets.md §5).
KDEF_CODES: Dict[str, str] = {
    'AF': 'Fear', 'AN': 'Anger', 'DI': 'Disgust', 'HA': 'Happiness', 'NE': 'Neutral',
    'SA': 'Sadness', 'SU': 'Surprise'
}

ClassSpec = Union[str, Sequence[str]]


def canonical_name(name: str) -> str:
    """Return the canonical name for ``name`` or one of its aliases (case-insensitive)."""
    key = str(name).strip().lower()
    if key not in ALIASES:
        raise KeyError(f'unknown expression name {name!r}; accepted names (case-insensitive): '
                       f'{sorted(ALIASES)}')
    return ALIASES[key]


def is_expression_name(name: str) -> bool:
    """True when ``name`` is a canonical expression name or one of its aliases."""
    return str(name).strip().lower() in ALIASES


def resolve_classes(classes: ClassSpec, canonical: bool = True) -> Tuple[str, ...]:
    """Turn a class-order spec into a tuple of names.

    Args:
        classes: a preset name from :data:`CLASS_ORDERS`, a path to a text file with one name a
            line, or a sequence of names.
        canonical: map every name through :data:`ALIASES` (an unknown name raises). With False
            names that are not expression names are kept verbatim (for list files of other tasks).
    """
    if isinstance(classes, str):
        key = classes.strip().lower()
        if key in CLASS_ORDERS:
            return CLASS_ORDERS[key]
        if osp.isfile(classes):
            with open(classes, encoding='utf-8') as f:
                names = [line.strip() for line in f if line.strip()]
            if not names:
                raise ValueError(f'class file {classes!r} is empty; write one class name a line')
        else:
            raise ValueError(f'classes={classes!r} is neither a preset ({sorted(CLASS_ORDERS)}) '
                             'nor an existing file; give a preset name, a list of names or a '
                             'text file with one name a line')
    elif isinstance(classes, (list, tuple)):
        names = list(classes)
    else:
        raise TypeError(f'classes must be a preset name, a file or a list of names, '
                        f'got {type(classes).__name__}')
    if canonical:
        out = tuple(canonical_name(n) for n in names)
    else:
        out = tuple(canonical_name(n) if is_expression_name(n) else str(n) for n in names)
    if len(set(out)) != len(out):
        raise ValueError(f'class order {list(names)} names the same class twice '
                         f'(after aliasing: {list(out)})')
    return out


def remap_vector(src: ClassSpec, dst: ClassSpec) -> Tuple[int, ...]:
    """Index vector ``v`` with ``v[i] = dst.index(src[i])`` (position = source index).

    Raises ``ValueError`` when a source class has no place in ``dst`` (e.g. AffectNet-8's Contempt
    into RAF-DB's 7 classes): drop that class at the source (``num_classes=7``) instead.
    """
    src_names, dst_names = resolve_classes(src), resolve_classes(dst)
    missing = [n for n in src_names if n not in dst_names]
    if missing:
        raise ValueError(f'classes {missing} of {list(src_names)} do not exist in the target '
                         f'order {list(dst_names)}; use a source with those classes removed '
                         '(e.g. num_classes=7 to drop Contempt) or a target that contains them')
    return tuple(dst_names.index(n) for n in src_names)


def remap_labels(labels: Iterable[int], src: ClassSpec, dst: ClassSpec) -> np.ndarray:
    """Apply :func:`remap_vector` to an array of labels in the ``src`` order."""
    vec = np.asarray(remap_vector(src, dst), dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= len(vec)):
        raise ValueError(f'labels must lie in 0..{len(vec) - 1} for the source order, '
                         f'got range {labels.min()}..{labels.max()}')
    return vec[labels]


def is_identity(vector: Sequence[int]) -> bool:
    """True when a remapping vector maps every index onto itself."""
    return tuple(vector) == tuple(range(len(vector)))
