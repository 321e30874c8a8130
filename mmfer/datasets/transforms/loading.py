"""``LoadFERImage``: mmcv's ``LoadImageFromFile`` with FER-specific input handling."""
import os.path as osp
from typing import Optional

import cv2
import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio

from mmfer.registry import TRANSFORMS


def to_three_channels(img: np.ndarray, where: str) -> np.ndarray:
    """Return an H×W×3 array: grayscale (H×W or H×W×1) is replicated into 3 channels."""
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim == 3 and img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    if img.ndim == 3 and img.shape[2] == 3:
        return img
    raise ValueError(f'{where}: image of shape {img.shape} is neither grayscale nor 3-channel. '
                     'Fix: convert it to an 8-bit grayscale or BGR image')


@TRANSFORMS.register_module()
class LoadFERImage(LoadImageFromFile):
    """Load a face image as an H×W×3 BGR array (mmcv convention).

    Reads ``img_path`` through mmengine's file backends and decodes with :func:`mmcv.imfrombytes`
    (``color_type='color'``, so grayscale files come out with 3 replicated channels), exactly as
    mmcv's ``LoadImageFromFile`` does, which this class subclasses. In addition:

    - a missing or undecodable file raises an error naming the file and the fix (mmcv raises a
      bare assertion for the latter);
    - when ``results['img']`` is already set (in-memory images, e.g. FERPlus CSV pixels, H×W or
      H×W×C uint8) the image is not read again, only converted to 3 channels (C = 1 → 3 by
      replication; a 3-channel array is taken as BGR);
    - when ``results['face_bbox'] = (x, y, w, h)`` is set (AffectNet ``crop_face=True``) the
      image is cropped to that box, clipped to the image, and ``landmarks`` (K×2, x/y) if present
      are shifted by (−x, −y).

    Required keys: ``img_path`` or ``img``. Optional: ``face_bbox``, ``landmarks``.
    Modified keys: ``img`` (H×W×3), ``img_shape``, ``ori_shape``, ``landmarks``.

    Args:
        to_float32 (bool): return float32 instead of uint8.
        imdecode_backend (str): decoding backend for :func:`mmcv.imfrombytes`.
        backend_args (dict, optional): mmengine file backend arguments.
    """

    def __init__(self, to_float32: bool = False, imdecode_backend: str = 'cv2',
                 backend_args: Optional[dict] = None):
        super().__init__(to_float32=to_float32, color_type='color',
                         imdecode_backend=imdecode_backend, backend_args=backend_args)

    def _read(self, filename: str) -> np.ndarray:
        if '://' not in str(filename) and not osp.isfile(filename):
            raise FileNotFoundError(
                f'image file {filename!r} does not exist. Fix: check data_root / data_prefix of '
                'the dataset, or restore the file (AffectNet: list known-missing files in '
                'missing_list)')
        img_bytes = fileio.get(filename, backend_args=self.backend_args)
        try:
            img = mmcv.imfrombytes(img_bytes, flag=self.color_type,
                                   backend=self.imdecode_backend)
        except (cv2.error, OSError, ValueError) as e:  # the decoders' own "cannot decode" errors
            raise ValueError(f'image file {filename!r} cannot be decoded ({e}). Fix: re-extract '
                             'or re-convert the file (it is empty or corrupt)') from e
        if img is None:
            raise ValueError(f'image file {filename!r} cannot be decoded '
                             f'({len(img_bytes)} bytes). Fix: re-extract or re-convert the file '
                             '(it is empty, truncated or not an image)')
        return img

    def transform(self, results: dict) -> dict:
        img = results.get('img')
        if img is None:
            if results.get('img_path') is None:
                raise KeyError('LoadFERImage needs results["img_path"] or an in-memory '
                               'results["img"]; the dataset provided neither')
            where = results['img_path']
            img = self._read(where)
        else:
            where = results.get('img_path') or 'in-memory image'
        img = to_three_channels(np.asarray(img), str(where))

        bbox = results.get('face_bbox')
        if bbox is not None:
            x, y, w, h = (int(round(float(v))) for v in bbox)
            x0, y0 = max(x, 0), max(y, 0)
            x1, y1 = min(x + w, img.shape[1]), min(y + h, img.shape[0])
            if x1 <= x0 or y1 <= y0:
                raise ValueError(f'{where}: face box (x={x}, y={y}, w={w}, h={h}) lies outside '
                                 f'the {img.shape[1]}x{img.shape[0]} image. Fix: correct the box '
                                 'in the annotation or set crop_face=False')
            img = img[y0:y1, x0:x1]
            if results.get('landmarks') is not None:
                results['landmarks'] = np.asarray(results['landmarks'], dtype=np.float32) - \
                    np.array([x0, y0], dtype=np.float32)

        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(to_float32={self.to_float32}, '
                f"imdecode_backend='{self.imdecode_backend}', backend_args={self.backend_args})")
