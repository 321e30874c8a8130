"""PairedFlipView (dacfer.md §1.3): the (image, flip) pair as a V = 2 view axis."""
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmpretrain.structures import DataSample

from mmfer.datasets.transforms.paired_flip import PairedFlipView, hflip
from mmfer.registry import MODELS, TRANSFORMS

pytestmark = pytest.mark.usefixtures('one_thread')
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def image(h=8, w=10):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def erasing(**kw):
    return dict(type='NormalizedRandomErasing', prob=1.0, scale=(0.1, 0.1), ratio=(1.0, 1.0),
                value=0.0, mean=MEAN, std=STD, **kw)


def fill_bgr():
    return np.round(np.array(MEAN)[::-1]).astype(np.uint8)  # what normalises to 0, BGR order


def test_hflip_columns():
    img = np.arange(5)[None, :, None].repeat(2, 0).repeat(3, 2)
    assert hflip(img)[0, :, 0].tolist() == [4, 3, 2, 1, 0]


def test_after_the_augmentation_view1_is_flip_of_view0():
    img = image()
    out = PairedFlipView()(dict(img=img.copy(), gt_label=3))
    assert out['img'].shape == (2, 3, 8, 10) and out['num_views'] == 2
    assert out['img_shape'] == (8, 10) and out['gt_label'] == 3
    np.testing.assert_array_equal(out['img'][0], img.transpose(2, 0, 1))
    np.testing.assert_array_equal(out['img'][1], img[:, ::-1].transpose(2, 0, 1))


def test_erase_then_flip_shares_the_mirrored_rectangle():
    torch.manual_seed(0)
    t = TRANSFORMS.build(dict(type='PairedFlipView', transforms=[erasing()]))
    assert t.pair_mode == 'erase_then_flip'
    img = image(16, 16)
    out = t(dict(img=img.copy()))['img']
    v0, v1 = out[0].transpose(1, 2, 0), out[1].transpose(1, 2, 0)
    np.testing.assert_array_equal(v1, v0[:, ::-1])
    erased = (v0 != img).any(-1)
    assert 0 < erased.sum() <= 0.1 * 256 + 8  # one box of ~10 % of the image
    assert (v0[erased] == fill_bgr()).all()
    assert (v1[erased[:, ::-1]] == fill_bgr()).all()  # the same box, mirrored


def test_independent_flips_the_raw_image_and_redraws_the_augmentation():
    torch.manual_seed(1)
    t = PairedFlipView(transforms=[erasing()], pair_mode='independent')
    img = image(16, 16)
    out = t(dict(img=img.copy()))['img']
    v0, v1 = out[0].transpose(1, 2, 0), out[1].transpose(1, 2, 0)
    e0, e1 = (v0 != img).any(-1), (v1 != img[:, ::-1]).any(-1)
    assert e0.any() and e1.any()
    assert not np.array_equal(e0[:, ::-1], e1)  # an independent box (seeded draw)
    np.testing.assert_array_equal(v1[~e1], img[:, ::-1][~e1])  # view 1 = A′(Flip(x))
    with pytest.raises(ValueError, match='give it as transforms='):
        PairedFlipView(pair_mode='independent')
    with pytest.raises(ValueError, match="'erase_then_flip', 'independent'"):
        PairedFlipView(pair_mode='both')


def test_pack_and_multi_view_preprocessor_give_nx2x3xhxw():
    pipe = Compose([TRANSFORMS.build(dict(type='PairedFlipView')),
                    TRANSFORMS.build(dict(type='PackInputs'))])
    imgs = [image(), image()[::-1].copy()]
    samples = [pipe(dict(img=im.copy(), gt_label=i)) for i, im in enumerate(imgs)]
    assert samples[0]['inputs'].shape == (2, 3, 8, 10)
    assert isinstance(samples[0]['data_samples'], DataSample)
    pre = MODELS.build(dict(type='MultiViewDataPreprocessor', mean=MEAN, std=STD, to_rgb=True))
    batch = pre(dict(inputs=[s['inputs'] for s in samples],
                     data_samples=[s['data_samples'] for s in samples]), training=True)
    x = batch['inputs']
    assert x.shape == (2, 2, 3, 8, 10)
    assert torch.allclose(x[:, 1], x[:, 0].flip(-1))
    rgb0 = (torch.from_numpy(imgs[0][..., ::-1].copy()).permute(2, 0, 1).float()
            - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    assert torch.allclose(x[0, 0], rgb0, atol=1e-5)
    assert [int(d.gt_label) for d in batch['data_samples']] == [0, 1]


def test_wrong_input_named():
    with pytest.raises(TypeError, match='before PackInputs'):
        PairedFlipView()(dict(img=torch.zeros(3, 4, 4)))
