"""KDEF reader with identity-aware 10-fold ordering (datasets.md §5)."""
import itertools
import logging
import os
import os.path as osp
import re
from collections import Counter, OrderedDict
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.logging import print_log

from mmfer.registry import DATASETS
from .base import BaseFERDataset, FERDataError, require_dir
from .class_maps import CLASS_ORDERS, KDEF_CODES, ClassSpec

#: Angle code → yaw in degrees (negative = left).
KDEF_ANGLES = OrderedDict(FL=-90, HL=-45, S=0, HR=45, FR=90)
KDEF_NAME = re.compile(r'(?P<session>[AB])(?P<gender>[FM])(?P<person>\d{2})'
                       r'(?P<expression>AF|AN|DI|HA|NE|SA|SU)(?P<angle>FL|HL|S|HR|FR)',
                       re.IGNORECASE)
KDEF_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')


def parse_kdef_name(stem: str) -> Optional[dict]:
    """Decode a KDEF file stem, e.g. ``AF01AFFL`` → session A, female, person 01, Fear, −90°.

    Returns ``dict(session, gender, person, identity, expression, angle_code, angle)`` with the
    canonical expression name and ``identity = gender + person`` (sessions A and B of one person are
    one identity), or ``None`` when the stem does not follow the KDEF code.
    """
    m = KDEF_NAME.fullmatch(stem)
    if m is None:
        return None
    d = {k: v.upper() for k, v in m.groupdict().items()}
    return dict(session=d['session'], gender=d['gender'], person=d['person'],
                identity=d['gender'] + d['person'], expression=KDEF_CODES[d['expression']],
                angle_code=d['angle'], angle=KDEF_ANGLES[d['angle']])


@DATASETS.register_module()
class KDEF(BaseFERDataset):
    """KDEF: ``<root>/<AF01>/<AF01AFFL>.JPG`` — session, gender, person, expression, angle.

    All image files below ``data_root`` are enumerated (any folder depth, extensions matched
    case-insensitively) and decoded with :func:`parse_kdef_name`; a file name that does not follow
    the code raises (``strict=False`` logs and skips such files instead). Combinations of the full
    2 sessions × 70 identities × 7 expressions × angles grid that are absent are logged and kept in
    ``self.missing_combinations``. Labels follow the RAF-DB order by default (mmfer's choice).

    Samples: ``dict(img_path, gt_label, identity, session, angle, fold)``.

    **Folds.** The sample list is ordered by fold so that mmpretrain's ``KFoldDataset`` with
    ``num_splits=num_folds`` and ``seed=None`` (no reshuffle!) cuts exactly these folds::

        dict(type='KFoldDataset', num_splits=10, fold=k, test_mode=..., seed=None,
             dataset=dict(type='KDEF', data_root=..., num_folds=10))

    - ``fold_mode='subject'`` (default): the identities are shuffled with ``fold_seed`` and split
      into ``num_folds`` groups (70 → 10 × 7); all images of an identity are in one fold. Because
      ``KFoldDataset`` cuts at ``N·k // num_folds``, the folds must have those sizes; this holds
      whenever every identity has the same number of images, and is checked (an error names the
      fold sizes when images are missing; set ``num_folds=None`` when not cross-validating).
    - ``fold_mode='image'``: stratified random split of the images (each class's images shuffled
      and dealt to the folds in turn); identities overlap between train and test.

    Args:
        data_root (str): the KDEF folder (raw release or an aligned copy with the same names).
        angles (Sequence, optional): angle codes (``'FL','HL','S','HR','FR'``) or degrees to keep.
            Default all five.
        fold_mode (str): ``'subject'`` or ``'image'``.
        num_folds (int, optional): number of folds the order is prepared for (default 10).
        fold_seed (int): seed of the fold assignment.
        strict (bool): raise on image files whose names do not follow the KDEF code.
        classes: output class order (default RAF-DB order).
    """

    METAINFO = dict(classes=CLASS_ORDERS['kdef'])
    SESSIONS = ('A', 'B')
    GENDERS = ('F', 'M')
    PERSONS = tuple(f'{i:02d}' for i in range(1, 36))

    def __init__(self, data_root: str, angles: Optional[Sequence[Union[str, int]]] = None,
                 fold_mode: str = 'subject', num_folds: Optional[int] = 10, fold_seed: int = 0,
                 strict: bool = True, classes: Optional[ClassSpec] = None, **kwargs):
        if fold_mode not in ('subject', 'image'):
            raise ValueError(f"KDEF: fold_mode={fold_mode!r}; use 'subject' or 'image'")
        if num_folds is not None and num_folds < 2:
            raise ValueError(f'KDEF: num_folds={num_folds}; use at least 2, or None')
        self.angles = self._resolve_angles(angles)
        self.fold_mode = fold_mode
        self.num_folds = num_folds
        self.fold_seed = fold_seed
        self.strict = strict
        self.missing_combinations: List[tuple] = []
        self.identity_folds: Dict[str, int] = {}
        super().__init__(ann_file='', data_root=data_root, data_prefix='', classes=classes,
                         **kwargs)

    @staticmethod
    def _resolve_angles(angles) -> tuple:
        if angles is None:
            return tuple(KDEF_ANGLES)
        by_degree = {v: k for k, v in KDEF_ANGLES.items()}
        out = []
        for a in angles:
            if isinstance(a, str) and a.upper() in KDEF_ANGLES:
                out.append(a.upper())
            elif not isinstance(a, str) and a in by_degree:
                out.append(by_degree[a])
            else:
                raise ValueError(f'KDEF: unknown angle {a!r}; use codes {list(KDEF_ANGLES)} or '
                                 f'degrees {list(KDEF_ANGLES.values())}')
        return tuple(sorted(set(out), key=list(KDEF_ANGLES).index))

    def source_description(self) -> str:
        return f'{self.img_prefix}, angles {list(self.angles)}'

    def load_native_list(self) -> List[dict]:
        root = self.img_prefix
        require_dir(root, 'KDEF data_root', 'set data_root to the KDEF folder (AF01/, AM01/ ...)')
        classes = self.native_classes()
        samples, seen, bad = [], {}, []
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                stem, ext = osp.splitext(name)
                if ext.lower() not in KDEF_EXTENSIONS:
                    continue
                path = osp.join(folder, name)
                info = parse_kdef_name(stem)
                if info is None:
                    if self.strict:
                        raise FERDataError(
                            f'{path}: file name does not follow the KDEF code '
                            '<A|B><F|M><01..35><AF|AN|DI|HA|NE|SA|SU><FL|HL|S|HR|FR>. Fix: rename '
                            'or remove it, or set strict=False to skip such files')
                    bad.append(path)
                    continue
                key = (info['session'], info['identity'], info['expression'], info['angle_code'])
                if key in seen:
                    raise FERDataError(f'{path}: same KDEF code as {seen[key]}. Fix: keep one')
                seen[key] = path
                if info['angle_code'] in self.angles:
                    samples.append(dict(img_path=path, gt_label=classes.index(info['expression']),
                                        identity=info['identity'], session=info['session'],
                                        angle=info['angle']))
        if bad:
            print_log(f'KDEF: skipped {len(bad)} image files whose names do not follow the code '
                      f'(strict=False), e.g. {bad[:3]}', logger='current', level=logging.WARNING)
        self._report_missing(seen, classes)
        if samples:
            self._assign_folds(samples)
        return samples

    def _report_missing(self, seen: dict, classes: Sequence[str]) -> None:
        grid = itertools.product(self.SESSIONS, [g + p for g in self.GENDERS for p in self.PERSONS],
                                 classes, self.angles)
        self.missing_combinations = [k for k in grid if k not in seen]
        if self.missing_combinations:
            print_log(f'KDEF: {len(self.missing_combinations)} (session, identity, expression, '
                      'angle) combinations of the full grid have no image, e.g. '
                      f'{self.missing_combinations[:5]}', logger='current', level=logging.WARNING)

    def _assign_folds(self, samples: List[dict]) -> None:
        """Set ``fold`` on every sample and sort the list by fold (see the class docstring)."""
        k = self.num_folds or 10
        rng = np.random.default_rng(self.fold_seed)
        if self.fold_mode == 'subject':
            identities = sorted({s['identity'] for s in samples})
            order = [identities[i] for i in rng.permutation(len(identities))]
            rank = {ident: r for r, ident in enumerate(order)}
            self.identity_folds = {ident: int(f) for f, group in
                                   enumerate(np.array_split(np.array(order), k))
                                   for ident in group}
            for s in samples:
                s['fold'] = self.identity_folds[s['identity']]
            samples.sort(key=lambda s: (s['fold'], rank[s['identity']], s['session'],
                                        s['gt_label'], s['angle']))
        else:
            dealt = 0
            for label in sorted({s['gt_label'] for s in samples}):
                members = [s for s in samples if s['gt_label'] == label]
                for j, idx in enumerate(rng.permutation(len(members))):
                    members[idx]['fold'] = (dealt + j) % k
                dealt += len(members)
            samples.sort(key=lambda s: (s['fold'], s['gt_label'], s['img_path']))
        if self.num_folds and self.fold_mode == 'subject':
            self._check_kfold_cuts(samples)

    def _check_kfold_cuts(self, samples: List[dict]) -> None:
        n, k = len(samples), self.num_folds
        sizes = Counter(s['fold'] for s in samples)
        starts = np.cumsum([0] + [sizes[f] for f in range(k)])
        cuts = [n * f // k for f in range(k + 1)]
        if list(starts) != cuts:
            raise FERDataError(
                f'KDEF ({self.img_prefix}): subject folds hold {[sizes[f] for f in range(k)]} '
                f'images, but KFoldDataset(num_splits={k}) cuts at {cuts}, so identities would '
                f'straddle folds ({len(self.missing_combinations)} images missing from the grid). '
                "Fix: restore the missing images, use fold_mode='image', or set num_folds=None "
                'when not cross-validating')
