"""ImageFolder reader with expression-name aliases and a folder-set check (datasets.md §9)."""
import logging
import os
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional, Sequence

from mmengine.logging import print_log
from mmpretrain.datasets.custom import get_samples

from mmfer.registry import DATASETS
from .base import BaseFERDataset, require_dir
from .class_maps import ClassSpec, canonical_name, is_expression_name, resolve_classes

#: Every 8-bit still-image format OpenCV's ``imread`` decodes (the formats of its documentation
#: that the opencv-python wheels build in: JPEG, JPEG 2000, PNG, WebP, BMP/DIB, TIFF, the
#: Netpbm family, Sun raster), matched case-insensitively. Float formats (``.exr``, ``.hdr``,
#: ``.pfm``) are left out: FER images are 8-bit and ``LoadFERImage`` decodes to uint8.
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.jpe', '.jp2', '.png', '.webp', '.bmp', '.dib', '.tif',
                    '.tiff', '.pbm', '.pgm', '.ppm', '.pnm', '.sr', '.ras')


@DATASETS.register_module()
class FERImageFolder(BaseFERDataset):
    """``<root>/<class folder>/<image>`` with the class taken from the folder.

    Without ``classes`` this is mmpretrain's ``CustomDataset`` rule: classes = sorted folder names
    (Python string order, so ``10`` sorts before ``2``) and the label of a file is the position of
    its folder. Files with an image extension (:data:`IMAGE_EXTENSIONS`: every format OpenCV
    decodes — jpg, jpeg, jpe, jp2, png, webp, bmp, dib, tif, tiff, pbm, pgm, ppm, pnm, sr, ras;
    any case) are listed with mmpretrain's ``get_samples`` (recursively, sorted). Any other file
    in a class folder (``notes.txt``, ``Thumbs.db`` ...) is skipped with one WARNING giving their
    number and the first examples; the numbers are kept in ``self.skipped_files``
    (``{extension: count}``). Hidden files (name starting with ``.``, e.g. ``.DS_Store``) are
    not listed at all: mmengine's folder listing leaves them out.

    What mmfer adds:

    - ``classes`` given by name (preset or list): each folder name is mapped through the alias
      table (``Angry`` → Anger, ``Happy`` → Happiness ...) and the labels follow ``classes``. The
      set of folders must equal the set of classes: a missing or extra folder raises.
    - ``folder_classes`` (preset or list): folders are named by their index in that order
      (e.g. DAN's AffectNet tree ``train/0..7`` with ``folder_classes='affectnet'``), so folder
      ``k`` holds class ``folder_classes[k]``; combine with ``classes`` to remap.

    Args:
        data_prefix (str): the folder holding the class folders (joined to ``data_root``).
        data_root (str): optional root.
        classes: output class order; see above.
        folder_classes: order the numeric folder names index into; see above.
        extensions (Sequence[str]): accepted image extensions (default
            :data:`IMAGE_EXTENSIONS`).
    """

    METAINFO = dict(classes=())

    def __init__(self, data_prefix: str, data_root: str = '', classes: Optional[ClassSpec] = None,
                 folder_classes: Optional[ClassSpec] = None,
                 extensions: Sequence[str] = IMAGE_EXTENSIONS, **kwargs):
        self.extensions = tuple(e.lower() for e in extensions)
        self.skipped_files: Dict[str, int] = {}
        root = data_prefix if osp.isabs(data_prefix) or not data_root else \
            osp.join(data_root, data_prefix)
        require_dir(root, f'{type(self).__name__} image root',
                    'set data_root / data_prefix to the folder holding one folder per class')
        self.folders = sorted(e.name for e in os.scandir(root) if e.is_dir())
        if not self.folders:
            raise FileNotFoundError(f'{type(self).__name__}: {root!r} holds no class folders. '
                                    'Fix: point data_prefix at the folder of class folders')
        self.folder_names = self._name_folders(root, classes, folder_classes)
        if classes is not None:
            wanted = resolve_classes(classes)
            extra = sorted(set(self.folder_names) - set(wanted))
            missing = [n for n in wanted if n not in self.folder_names]
            if extra or missing:
                raise ValueError(
                    f'{type(self).__name__}: folders of {root!r} ({self.folders}) do not match '
                    f'classes {list(wanted)}: extra {extra}, missing {missing}. Fix: rename or '
                    'add/remove folders, or change `classes`')
        super().__init__(ann_file='', data_root=data_root, data_prefix=data_prefix,
                         classes=classes, **kwargs)

    def _name_folders(self, root: str, classes, folder_classes) -> List[str]:
        """Class name of every folder (in sorted folder order)."""
        if folder_classes is not None:
            order = resolve_classes(folder_classes)
            names = []
            for folder in self.folders:
                if not folder.isdigit() or int(folder) >= len(order):
                    raise ValueError(f'{type(self).__name__}: folder {osp.join(root, folder)!r} '
                                     f'is not an index 0..{len(order) - 1} of folder_classes '
                                     f'{list(order)}. Fix: rename it or unset folder_classes')
                names.append(order[int(folder)])
            return names
        if classes is None:
            return list(self.folders)
        unknown = [f for f in self.folders if not is_expression_name(f)]
        if unknown:
            raise ValueError(f'{type(self).__name__}: folders {unknown} in {root!r} are not '
                             'expression names (Surprise/Surprised, Fear/Afraid/Fearful, '
                             'Disgust/Disgusted, Happiness/Happy, Sadness/Sad, Anger/Angry, '
                             'Neutral, Contempt). Fix: rename them, set folder_classes for numeric '
                             'folders, or leave classes unset to use sorted folder names')
        names = [canonical_name(f) for f in self.folders]
        if len(set(names)) != len(names):
            raise ValueError(f'{type(self).__name__}: folders {self.folders} in {root!r} name '
                             'the same class twice (aliases). Fix: merge them')
        return names

    def native_classes(self):
        return tuple(self.folder_names)

    def source_description(self) -> str:
        return f'image folders of {self.img_prefix}'

    def load_native_list(self) -> List[dict]:
        samples, empty, skipped = [], set(), []
        # one get_samples call per class folder (the same listing, in the same sorted order, as
        # one call over all folders) so that a skipped file is reported with its folder
        for idx, folder in enumerate(self.folders):
            def is_image(name: str, folder=folder) -> bool:
                if name.lower().endswith(self.extensions):
                    return True
                skipped.append(osp.join(folder, name))
                return False

            found, no_images = get_samples(self.img_prefix, {folder: idx}, is_valid_file=is_image)
            samples += found
            empty |= no_images
        self.skipped_files = dict(sorted(Counter(
            osp.splitext(n)[1].lower() or osp.basename(n) for n in skipped).items()))
        if skipped:
            print_log(f'{type(self).__name__}: skipped {len(skipped)} file(s) in the class '
                      f'folders of {self.img_prefix} that are not images by extension '
                      f'(accepted: {" ".join(self.extensions)}): '
                      + ', '.join(f'{k} ×{v}' for k, v in self.skipped_files.items())
                      + f'; e.g. {sorted(skipped)[:5]}. Fix: remove them, or convert images in '
                      'other formats to one of those', logger='current', level=logging.WARNING)
        if empty:
            print_log(f'{type(self).__name__}: class folders without images in '
                      f'{self.img_prefix}: {sorted(empty)}', logger='current',
                      level=logging.WARNING)
        return [dict(img_path=osp.join(self.img_prefix, path), gt_label=label)
                for path, label in samples]
