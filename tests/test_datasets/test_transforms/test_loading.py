import cv2
import numpy as np
import pytest

from mmfer.datasets.transforms.loading import LoadFERImage
from mmfer.registry import TRANSFORMS


def test_color_and_gray_files(tmp_path):
    color = np.zeros((6, 8, 3), np.uint8)
    color[..., 0], color[..., 1], color[..., 2] = 10, 20, 30  # B, G, R
    cv2.imwrite(str(tmp_path / 'c.png'), color)
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    cv2.imwrite(str(tmp_path / 'g.png'), gray)
    load = TRANSFORMS.build(dict(type='LoadFERImage'))
    out = load(dict(img_path=str(tmp_path / 'c.png')))
    assert out['img'].shape == (6, 8, 3) and out['img'].dtype == np.uint8
    assert out['img'][0, 0].tolist() == [10, 20, 30]  # BGR kept, like mmcv
    assert out['img_shape'] == out['ori_shape'] == (6, 8)
    out = load(dict(img_path=str(tmp_path / 'g.png')))
    assert out['img'].shape == (6, 8, 3)
    for c in range(3):
        np.testing.assert_array_equal(out['img'][..., c], gray)
    out = LoadFERImage(to_float32=True)(dict(img_path=str(tmp_path / 'g.png')))
    assert out['img'].dtype == np.float32


def test_in_memory_image_and_crop():
    gray = np.arange(48 * 48, dtype=np.int64).reshape(48, 48).astype(np.uint8)
    out = LoadFERImage()(dict(img=gray, img_path='fer2013.csv#row3'))
    assert out['img'].shape == (48, 48, 3)
    np.testing.assert_array_equal(out['img'][..., 2], gray)
    img = np.arange(10 * 20 * 3, dtype=np.int64).reshape(10, 20, 3).astype(np.uint8)
    lm = np.array([[5.0, 4.0], [7.0, 6.0]], np.float32)
    out = LoadFERImage()(dict(img=img, face_bbox=(4, 2, 6, 100), landmarks=lm))
    assert out['img'].shape == (8, 6, 3)  # height clipped to the image (10 − 2)
    np.testing.assert_array_equal(out['img'], img[2:10, 4:10])
    np.testing.assert_allclose(out['landmarks'], [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match='outside the 20x10 image'):
        LoadFERImage()(dict(img=img, face_bbox=(30, 0, 5, 5), img_path='a.jpg'))
    with pytest.raises(ValueError, match=r'shape \(4, 4, 2\) is neither grayscale'):
        LoadFERImage()(dict(img=np.zeros((4, 4, 2), np.uint8)))


def test_missing_and_undecodable(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'.*nothere\.jpg' does not exist.*data_root"):
        LoadFERImage()(dict(img_path=str(tmp_path / 'nothere.jpg')))
    (tmp_path / 'junk.jpg').write_bytes(b'this is not a jpeg')
    with pytest.raises(ValueError, match=r"junk\.jpg' cannot be decoded \(18 bytes\)"):
        LoadFERImage()(dict(img_path=str(tmp_path / 'junk.jpg')))
    (tmp_path / 'empty.png').write_bytes(b'')
    with pytest.raises(ValueError, match=r"empty\.png' cannot be decoded"):
        LoadFERImage()(dict(img_path=str(tmp_path / 'empty.png')))
    with pytest.raises(KeyError, match='img_path'):
        LoadFERImage()(dict(gt_label=1))
