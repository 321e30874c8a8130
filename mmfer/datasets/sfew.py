"""SFEW 2.0 reader (datasets.md §6)."""
from typing import Optional

from mmfer.registry import DATASETS
from .class_maps import CLASS_ORDERS, ClassSpec
from .image_folder import FERImageFolder


@DATASETS.register_module()
class SFEW(FERImageFolder):
    """SFEW 2.0: ``Train/<Class>/*.png`` and ``Val/<Class>/*.png``.

    The class folders (Angry, Disgust, Fear, Happy, Neutral, Sad, Surprise) are mapped through
    the alias table of :mod:`.class_maps`; an unknown, missing or extra folder raises. The labels
    follow the RAF-DB order by default (mmfer's choice; SFEW has no numeric order of its own), not
    the alphabetical folder order. ``Test/`` is unlabelled and not read.

    Args:
        data_root (str): folder holding ``Train/`` and ``Val/``.
        split (str): ``'train'`` (Train) or ``'val'`` (Val, where results are reported); the
            folder names ``'Train'`` / ``'Val'`` are accepted.
        classes: output class order, default ``'rafdb'``.
    """

    METAINFO = dict(classes=CLASS_ORDERS['rafdb'])
    SPLIT_FOLDERS = dict(train='Train', val='Val')

    def __init__(self, data_root: str, split: str = 'train',
                 classes: Optional[ClassSpec] = 'rafdb', **kwargs):
        split = str(split).lower()  # the folder names 'Train' / 'Val' are accepted too
        if split not in self.SPLIT_FOLDERS:
            raise ValueError(f"SFEW: split={split!r}; use 'train' or 'val' (Test is unlabelled)")
        self.split = split
        super().__init__(data_prefix=self.SPLIT_FOLDERS[split], data_root=data_root,
                         classes=classes, **kwargs)

    def source_description(self) -> str:
        return f'split {self.split!r}, {self.img_prefix}'
