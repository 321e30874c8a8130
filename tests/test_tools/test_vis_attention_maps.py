"""tools/analysis/vis_attention.py beyond neck attn_maps: CAMs (DacFER), the flipped view, PCDA's
heatmap and LAN's guidance map G from a checkpoint's guidance centers."""
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from tool_loader import load_tool as load_script

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_tool():
    return load_script('tools/analysis/vis_attention.py')


def cfg_path(*p):
    return osp.join(ROOT, 'configs', *p)


def test_cam_maps_are_the_predicted_class_cam():
    tool = load_tool()
    args = tool.parse_args([cfg_path('dacfer', 'dacfer_se50_synthfer.py'), '--no-ckpt',
                            '--synthfer', '2', '--maps', 'cam'])
    cfg, model, _, meta = tool.build_model(args)
    assert meta == {}
    images = tool.load_images(SimpleNamespace(img_dir=None, synthfer=2, seed=0,
                                              synthfer_size=64))
    batch = tool._pack(tool.test_pipeline(cfg), images)
    maps, logits, titles = tool.attention_maps(model, batch, 'cam')
    assert titles == ['CAM'] and tuple(maps.shape) == (2, 1, 2, 2)
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        fmap = model.extract_feat(data['inputs'])['backbone_map']
    pred = logits.argmax(1)
    want = torch.einsum('kc,nchw->nkhw', model.head.fc.weight, fmap)[torch.arange(2), pred]
    assert torch.allclose(maps[:, 0], want, atol=1e-5)
    # the DacFER flip picture: input, CAM, flipped CAM, flipped back
    grid = tool.make_grid(images, maps, logits, ['c'] * 7, 32, titles,
                          flip=(torch.flip(maps, dims=(-1, )), logits))
    assert grid.shape == (2 * 32, 4 * 32, 3)


def test_heatmap_key_and_errors(tmp_path):
    tool = load_tool()
    out = tmp_path / 'heat.png'
    assert tool.main([cfg_path('pcda', 'pcda_ir50_synthfer.py'), '--no-ckpt', '--synthfer', '1',
                      '--maps', 'heatmap', '--tile', '48', '--out', str(out)]) == 0
    assert cv2.imread(str(out)).shape == (48, 2 * 48, 3)
    with pytest.raises(KeyError, match="no 'nope'"):
        tool.main([cfg_path('pcda', 'pcda_ir50_synthfer.py'), '--no-ckpt', '--synthfer', '1',
                   '--maps', 'nope', '--out', str(out)])
    with pytest.raises(KeyError, match='CAMClsHead or a GAP'):
        tool.main([cfg_path('lan', 'lan_r18_synthfer.py'), '--no-ckpt', '--synthfer', '1',
                   '--maps', 'cam', '--out', str(out)])
    with pytest.raises(SystemExit):  # --guidance needs a checkpoint
        tool.parse_args([cfg_path('lan', 'lan_r18_synthfer.py'), '--no-ckpt', '--synthfer',
                         '1', '--guidance'])


def test_lan_guidance_from_checkpoint_meta(tmp_path):
    """G drawn from meta.lan_guidance (centers + the reference weights the hook saved) equals
    the centers' assignment of the reference backbone's maps."""
    from mmfer.apis import build_model
    from mmfer.utils.kmeans import GuidanceCenters
    tool = load_tool()
    torch.manual_seed(0)
    model = build_model(cfg_path('lan', 'lan_r18_synthfer.py')).eval()
    ref = {k: v.clone() + (0.01 if v.is_floating_point() else 0)
           for k, v in model.backbone.state_dict().items()}  # a reference != the live backbone
    rng = np.random.default_rng(0)
    centers = GuidanceCenters(rng.normal(size=(4, 2, 256)).astype(np.float32),
                              np.array([[3, 5]] * 4), np.array([0, 1, -1, 1]), (2, 2))
    meta = dict(lan_guidance=dict(centers.to_meta(), guidance_mode='online_reference',
                                  reference='pretrained', reference_state=ref))
    path = tmp_path / 'lan.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    out = tmp_path / 'g.png'
    assert tool.main([cfg_path('lan', 'lan_r18_synthfer.py'), str(path), '--synthfer', '2',
                      '--synthfer-size', '64', '--guidance', '--tile', '40',
                      '--out', str(out)]) == 0
    assert cv2.imread(str(out)).shape == (2 * 40, 3 * 40, 3)  # input, F_m, G
    args = tool.parse_args([cfg_path('lan', 'lan_r18_synthfer.py'), str(path), '--synthfer',
                            '2', '--synthfer-size', '64', '--guidance'])
    cfg, model2, _, meta2 = tool.build_model(args)
    images = tool.load_images(args)
    batch = tool._pack(tool.test_pipeline(cfg), images)
    g = tool.guidance_maps(model2, meta2, batch)
    net = build_model(cfg_path('lan', 'lan_r18_synthfer.py')).backbone
    net.load_state_dict(ref)
    net.eval()  # (mmpretrain's ResNet.train returns None: no chaining)
    with torch.no_grad():
        fmap = net(model2.data_preprocessor(batch, False)['inputs'])[-1]
    assert torch.equal(g[:, 0], centers.assign(fmap))
    assert g[:, 0, 1, 0].sum() == 0  # position 2 has no attentive cluster
    with pytest.raises(KeyError, match='lan_guidance'):
        tool.guidance_maps(model2, {}, batch)


def test_unit_scale_and_nearest_cells():
    """--scale unit draws gate values as they are (a map ≡ 0.9 is not flattened to 0 by a
    per-map min-max); --interp nearest keeps the cells of a 2×2 map sharp."""
    tool = load_tool()
    face = np.full((32, 32, 3), 128, np.uint8)
    try:
        tool.DRAW.update(scale='unit', interp='nearest')
        hi = tool.overlay(face, torch.full((2, 2), 0.9), 32)
        lo = tool.overlay(face, torch.full((2, 2), 0.05), 32)
        assert np.abs(hi.astype(int) - lo.astype(int)).mean() > 30
        cells = tool.overlay(face, torch.tensor([[1.0, 0.0], [0.0, 1.0]]), 32)
        assert (cells[:16, :16] == cells[0, 0]).all() and (cells[:16, 16:] == cells[0, 31]).all()
        assert not (cells[0, 0] == cells[0, 31]).all()
        tool.DRAW.update(scale='minmax', interp='bilinear')
        a = tool.overlay(face, torch.full((2, 2), 0.9), 32)
        b = tool.overlay(face, torch.full((2, 2), 0.05), 32)
        assert (a == b).all()  # constant maps: min-max gives the same (zero) picture
    finally:
        tool.DRAW.update(scale='minmax', interp='bilinear')


def test_cam_of_a_plain_gap_fc_head_and_flip_differences():
    """LAC / the baseline (FERClsHead, fc over GAP(F)) get W·F; flip_differences is 0 for maps
    that are exact mirrors and positive otherwise."""
    tool = load_tool()
    args = tool.parse_args([cfg_path('dacfer', 'lac_se50_synthfer.py'), '--no-ckpt',
                            '--synthfer', '2', '--maps', 'cam'])
    cfg, model, _, _ = tool.build_model(args)
    images = tool.load_images(SimpleNamespace(img_dir=None, synthfer=2, seed=0,
                                              synthfer_size=64))
    batch = tool._pack(tool.test_pipeline(cfg), images)
    maps, logits, _ = tool.attention_maps(model, batch, 'cam')
    # the CAM averages to the logit minus the bias (GAP and FC commute)
    pred = logits.argmax(1)
    got = maps[:, 0].mean((1, 2)) + model.head.fc.bias[pred]
    assert torch.allclose(got, logits[torch.arange(2), pred], atol=1e-4)
    m = torch.rand(3, 1, 2, 2)
    assert torch.equal(tool.flip_differences(m, torch.flip(m, dims=(-1, ))), torch.zeros(3))
    assert (tool.flip_differences(m, m + torch.rand(3, 1, 2, 2)) > 0).all()
