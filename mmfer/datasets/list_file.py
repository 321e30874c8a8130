"""Plain list files ``<relative path> <label>`` (datasets.md §8)."""
import os.path as osp
from typing import List, Optional

from mmfer.registry import DATASETS
from .base import (BaseFERDataset, DuplicateCheck, FERDataError, FileIndex, format_error,
                   require_file)
from .class_maps import ClassSpec, resolve_classes


def parse_list_line(line: str):
    """``'a b/c.jpg 3'`` → ``('a b/c.jpg', '3')``; ``None`` for blank and ``#`` comment lines.

    The label is the last whitespace-separated token; the path is everything before it, so paths
    may contain spaces. A line with a single token returns ``(token, None)``.
    """
    text = line.strip()
    if not text or text.startswith('#'):
        return None
    parts = text.rsplit(None, 1)
    if len(parts) == 1:
        return parts[0], None
    return parts[0].strip(), parts[1]


@DATASETS.register_module()
class FERListDataset(BaseFERDataset):
    """List file with one ``<relative path><whitespace><0-based label>`` per line.

    Blank lines are ignored and lines starting with ``#`` are comments; paths are relative to
    ``data_prefix``. A list carries no class order, so ``classes`` is required (a preset such as
    ``'affectnet7'`` or a list of names) and a label ≥ len(classes) raises with the file and line.
    To remap, give the list's own order as ``label_classes`` and the wanted order as ``classes``
    (e.g. ``label_classes='affectnet7', classes='rafdb'``).

    A path listed twice with different labels raises, naming both lines; with the same label
    both lines are kept (a list may repeat lines to oversample) and a WARNING names them
    (:class:`~mmfer.datasets.base.DuplicateCheck`).

    Samples: ``dict(img_path, gt_label)``.

    Args:
        ann_file (str): the list file (joined to ``data_root`` when relative).
        classes: output class order (required).
        label_classes: order of the labels in the file; default ``classes``.
        data_root (str), data_prefix (str): image root = ``data_root/data_prefix``.
    """

    METAINFO = dict(classes=())
    CANONICAL_NAMES = False  # a list may name non-expression classes; kept verbatim

    def __init__(self, ann_file: str, classes: Optional[ClassSpec] = None,
                 label_classes: Optional[ClassSpec] = None, data_root: str = '',
                 data_prefix: str = '', **kwargs):
        if classes is None:
            raise ValueError(f'FERListDataset({ann_file!r}): a list file carries no class order; '
                             "set classes= (a preset such as 'rafdb' / 'affectnet7' / 'ferplus' "
                             'or a list of names in label order)')
        self._label_classes = resolve_classes(label_classes if label_classes is not None
                                              else classes, canonical=False)
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix=data_prefix,
                         classes=None if label_classes is None else classes,
                         **kwargs)

    def native_classes(self):
        return self._label_classes

    def load_native_list(self) -> List[dict]:
        require_file(self.ann_file, 'list file', 'set ann_file (relative to data_root)')
        num = len(self._label_classes)
        expected = f"'<relative path> <label>' with a 0-based label 0..{num - 1}"
        index = FileIndex()
        duplicates = DuplicateCheck(self.ann_file, 'FERListDataset')
        data_list = []
        with open(self.ann_file, encoding='utf-8') as f:
            for line_no, line in enumerate(f, 1):
                parsed = parse_list_line(line)
                if parsed is None:
                    continue
                path, label = parsed
                if label is None or not label.lstrip('-').isdigit():
                    raise FERDataError(format_error(self.ann_file, line_no,
                                                    f'malformed line {line.rstrip()!r}', expected))
                if not 0 <= int(label) < num:
                    raise FERDataError(format_error(
                        self.ann_file, line_no, f'label {label} out of range for {num} classes '
                        f'{list(self._label_classes)}', expected,
                        'check that classes matches the list (1-based lists need converting)'))
                # 'a/./b.jpg' and 'a/b.jpg' are one image
                duplicates.add(osp.normpath(path), int(label), line_no)
                img_path = osp.join(self.img_prefix, path)
                self.check_image(index, img_path, self.ann_file, line_no)
                data_list.append(dict(img_path=img_path, gt_label=int(label)))
        duplicates.report()
        return data_list
