"""Overlay a neck's per-head spatial attention maps on faces and save one PNG.

    # a trained model on a folder of face images
    python tools/analysis/vis_attention.py configs/dan/dan_r18_rafdb.py work_dirs/dan/best.pth \
        --img-dir demo/faces --out work_dirs/dan/attention.png
    # smoke test: random weights on SynthFER faces rendered on the fly
    python tools/analysis/vis_attention.py configs/dan/dan_r18_synthfer.py --no-ckpt \
        --synthfer 6 --out attention.png

Which maps (``--maps``):

- ``attn_maps`` (default): any neck output of that name (N×H×h×w, or N×h×w for one map), e.g.
  DAN's ``MultiHeadCrossAttention`` (the heads' channel-summed spatial maps s) or LAN's learned
  F_m (``LocalAttention``); any other neck output key works the same way, e.g. ``heatmap``
  (PCDA's landmark heatmap, ``ProductCrossAttention``);
- ``cam``: the class activation map of the *predicted* class from a ``CAMClsHead`` (DacFER / EAC,
  M_k = Σ_c W_kc F_c), read from the head's ``view_outputs`` exactly as the flip loss sees it.

``--flip`` adds, per image, the maps of its horizontally flipped copy (DacFER's second view) and
that map flipped back onto the original (what the flip-consistency loss compares; the mean
absolute difference to the first map, after the same min-max scaling, is written on the tile).
``--guidance`` adds LAN's guidance map G of the image (white = attentive position), computed as in
training from the checkpoint's guidance centers (``meta.lan_guidance``) and reference network.

The images go through the config's test pipeline and the model's data preprocessor, exactly as
at test time. Grid: one row per image — the input (with predicted and, if known, true class),
then one overlay per map (bilinear upsampling, min-max scaled per map, JET colour map, 50 %
blend); the raw maximum of each map is written on its tile (DAN's maps are unnormalised).
"""
import argparse
import os
import os.path as osp
import sys

import cv2
import numpy as np
import torch
import torch.nn.functional as F

IMG_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', nargs='?', default=None, help='mmfer checkpoint')
    parser.add_argument('--no-ckpt', action='store_true',
                        help='use the config\'s initialisation instead of a checkpoint (smoke test)')
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument('--img-dir', help='folder of face images (sorted, first --num-images)')
    src.add_argument('--synthfer', type=int, metavar='N',
                     help='render N SynthFER test faces on the fly')
    parser.add_argument('--num-images', type=int, default=8, help='images taken from --img-dir')
    parser.add_argument('--synthfer-size', type=int, default=112, help='SynthFER render size')
    parser.add_argument('--seed', type=int, default=0, help='SynthFER seed')
    parser.add_argument('--tile', type=int, default=128, help='tile side in the grid (pixels)')
    parser.add_argument('--out', default='attention.png', help='output PNG')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--maps', default='attn_maps',
                        help="which maps: a neck output key ('attn_maps' default, e.g. "
                             "'heatmap' for PCDA) or 'cam' (CAMClsHead, predicted class)")
    parser.add_argument('--flip', action='store_true',
                        help='add the maps of the horizontally flipped image and their flip back')
    parser.add_argument('--guidance', action='store_true',
                        help="add LAN's guidance map G from the checkpoint's guidance centers")
    parser.add_argument('--scale', default='minmax', choices=['minmax', 'unit'],
                        help="colour scale: 'minmax' per map (default) or 'unit' (values in "
                             '[0, 1] as they are, e.g. LAN\'s F_m)')
    parser.add_argument('--interp', default='bilinear', choices=['bilinear', 'nearest'],
                        help="upsampling of the maps; 'nearest' shows the cells of a coarse map")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='key=value overrides of the config (mmengine syntax)')
    args = parser.parse_args(argv)
    if (args.checkpoint is None) == (not args.no_ckpt):
        parser.error('give either a checkpoint or --no-ckpt')
    if args.guidance and args.checkpoint is None:
        parser.error('--guidance reads the guidance centers of a checkpoint; give one')
    return args


def load_images(args):
    """List of (BGR uint8 image, name, true label or None)."""
    if args.img_dir is not None:
        if not osp.isdir(args.img_dir):
            raise FileNotFoundError(f'--img-dir {args.img_dir!r} is not a folder')
        names = sorted(f for f in os.listdir(args.img_dir) if f.lower().endswith(IMG_EXTS))
        if not names:
            raise FileNotFoundError(f'no images ({", ".join(IMG_EXTS)}) in {args.img_dir!r}')
        out = []
        for name in names[:args.num_images]:
            path = osp.join(args.img_dir, name)
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f'{path}: cannot decode the image; fix or remove the file')
            out.append((img, name, None))
        return out
    from mmfer.datasets.synthfer_render import render, sample_params
    out = []
    for i in range(args.synthfer):
        rgb, ann = render(sample_params(args.seed, i, split='test'), size=args.synthfer_size)
        out.append((np.ascontiguousarray(rgb[:, :, ::-1]), f'synthfer_{i}', int(ann['label'])))
    return out


def build_model(args):
    """(config, model in eval mode on ``args.device``, class names of the checkpoint or None,
    the checkpoint's meta dict); the model is built by :func:`mmfer.apis.build_model` (as the
    Runner builds it)."""
    from mmfer.apis import build_model as build_fer_model
    from mmfer.apis import load_model_config
    from mmfer.utils.checkpoint import LOSS_STATE_KEYS, load_checkpoint
    cfg = load_model_config(args.config, args.cfg_options)
    torch.manual_seed(args.seed)
    model = build_fer_model(cfg)
    classes, meta = None, {}
    if args.checkpoint:
        ckpt = load_checkpoint(model, args.checkpoint, ignore_missing=[LOSS_STATE_KEYS])
        meta = (ckpt.get('meta') or {}) if isinstance(ckpt, dict) else {}
        classes = meta.get('classes') or (meta.get('dataset_meta') or {}).get('classes')
    # --no-ckpt: the weights the modules got at construction (seeded); a smoke test only
    return cfg, model.to(args.device).eval(), classes, meta


def test_pipeline(cfg):
    from mmengine.dataset import Compose
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if not loader:
        raise KeyError(f'{cfg.filename}: no test_dataloader / val_dataloader to take the test '
                       'pipeline from')
    return Compose(loader['dataset']['pipeline'])


def _as_maps(maps, what):
    if maps.dim() == 3:
        maps = maps.unsqueeze(1)
    if maps.dim() != 4:
        raise ValueError(f'{what} must be N×H×h×w or N×h×w, got {tuple(maps.shape)}')
    return maps.float().cpu()


def class_activation_maps(model, feats) -> torch.Tensor:
    """N×K×h×w CAMs: a ``CAMClsHead``'s own (``view_outputs``, as its flip loss sees them), else
    M_k = Σ_c W_kc F_c from the ``fc`` of a GAP → FC head over the last backbone map (e.g. the
    LAC / baseline heads of DacFER's ablation, so the same picture can be drawn without the
    consistency loss)."""
    head = model.head
    if hasattr(head, 'cam'):
        return head.view_outputs(feats)['cam']
    fc, fmap = getattr(head, 'fc', None), feats.get('backbone_map')
    feat = feats.get(getattr(head, 'feat_key', 'feat'))
    # exact only when the fc input *is* GAP(F): checked on the batch (a neck in between, e.g.
    # LAN's f = f_o + f_a, makes W·F a partial map, which would mislead)
    if isinstance(fc, torch.nn.Linear) and fmap is not None and fmap.dim() == 4 \
            and fmap.size(1) == fc.in_features and feat is not None \
            and feat.shape == fmap.shape[:2] and torch.allclose(feat, fmap.mean((2, 3)),
                                                                atol=1e-5, rtol=1e-4):
        return torch.einsum('kc,nchw->nkhw', fc.weight, fmap)
    raise KeyError(f'--maps cam needs a CAMClsHead or a GAP → FC head whose fc reads GAP of the '
                   f'last backbone map; {type(head).__name__} on this model is neither')


def attention_maps(model, batch, key: str = 'attn_maps') -> tuple:
    """Run the model on a batch; return (maps N×M×h×w, logits N×C, tile titles of the M maps).
    ``key``: a neck output name, or ``'cam'`` (CAMClsHead, the map of the predicted class)."""
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        feats = model.extract_feat(data['inputs'])
        logits = model.head(feats)
        if key == 'cam':
            cams = class_activation_maps(model, feats)  # N×K×h×w
            pred = logits.argmax(1)
            maps = cams[torch.arange(len(pred)), pred][:, None]
            return _as_maps(maps, 'cam'), logits.float().cpu(), ['CAM']
        if key not in feats:
            raise KeyError(f'the neck {type(model.neck).__name__} returns {sorted(feats)} but no '
                           f'{key!r}; this tool needs a neck that exposes spatial maps '
                           '(N×H×h×w) under that name (or --maps cam for a CAMClsHead)')
        maps = _as_maps(feats[key], key)
    titles = [f'head {h + 1}' for h in range(maps.size(1))] if maps.size(1) > 1 else [key]
    return maps, logits.float().cpu(), titles


def guidance_maps(model, meta: dict, batch) -> torch.Tensor:
    """LAN's G (N×1×h×w) of a batch, from the checkpoint's guidance centers and reference
    network, as the GuidanceMapHook computes it during training (``online_reference``)."""
    from types import SimpleNamespace

    from mmfer.engine.hooks.guidance_map_hook import META_KEY, GuidanceMapHook
    from mmfer.utils.kmeans import GuidanceCenters
    entry = meta.get(META_KEY)
    if entry is None:
        raise KeyError(f'--guidance: the checkpoint has no meta[{META_KEY!r}] (guidance centers '
                       'are saved by the GuidanceMapHook of a LAN training run)')
    hook = GuidanceMapHook(reference=entry.get('reference', 'pretrained'))
    hook._ref_state = entry.get('reference_state')
    runner = SimpleNamespace(model=model)
    hook.ref_net = hook.build_reference(runner)
    centers = GuidanceCenters.from_meta(entry)
    with torch.no_grad():
        inputs = model.data_preprocessor(batch, False)['inputs']
        g = centers.assign(hook.reference_maps(runner, inputs))
    return g[:, None].float().cpu()


# how maps are drawn (set from --scale / --interp in main; module-level so that every tile of a
# grid uses the same rule)
DRAW = dict(scale='minmax', interp='bilinear')


def overlay(img_bgr: np.ndarray, amap: torch.Tensor, tile: int) -> np.ndarray:
    """Blend one h×w map (upsampled, JET) with the tile-sized image. ``DRAW['scale']``:
    ``'minmax'`` scales each map to its own range, ``'unit'`` draws values in [0, 1] as they are
    (clipped; for gates such as LAN's F_m); ``DRAW['interp']``: ``'bilinear'`` or ``'nearest'``
    (shows the cells of a coarse map)."""
    face = cv2.resize(img_bgr, (tile, tile), interpolation=cv2.INTER_LINEAR)
    mode = DRAW['interp']
    up = F.interpolate(amap[None, None].float(), size=(tile, tile), mode=mode,
                       **(dict(align_corners=False) if mode == 'bilinear' else {}))[0, 0].numpy()
    if DRAW['scale'] == 'unit':
        norm = np.clip(up, 0.0, 1.0)
    else:
        lo, hi = float(up.min()), float(up.max())
        # a constant map (up to the upsampling's float rounding) is drawn as zero, not as
        # its amplified rounding noise
        flat = hi - lo <= 1e-6 * max(1.0, abs(hi), abs(lo))
        norm = np.zeros_like(up) if flat else (up - lo) / (hi - lo)
    heat = cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.addWeighted(face, 0.5, heat, 0.5, 0)


def _label(tile_img, text, row=0):
    # white on a black outline: readable on any face or heat colour
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(tile_img, text, (3, 12 + 12 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    colour, thickness, cv2.LINE_AA)


def _map_tile(img, amap, tile, title):
    t = overlay(img, amap, tile)
    mx = float(amap.max())
    _label(t, f'{title}  max {mx:.0f}' if mx >= 100 else f'{title}  max {mx:.3g}')
    return t


def _scaled(m):
    lo, hi = float(m.min()), float(m.max())
    return (m - lo) / (hi - lo) if hi > lo else torch.zeros_like(m)


def make_grid(images, maps, logits, classes, tile, titles=None, flip=None, guidance=None):
    """One row per image: the input, its maps; with ``flip=(maps, logits)`` of the flipped
    images, the flipped input's maps and their flip back; with ``guidance`` (N×1×h×w) G."""
    rows = []
    pred = logits.argmax(1).tolist()
    titles = titles or [f'head {h + 1}' for h in range(maps.size(1))]
    name = (lambda i: classes[i] if classes and i < len(classes) else str(i))
    for i, ((img, img_name, label), m, p) in enumerate(zip(images, maps, pred)):
        first = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_LINEAR)
        _label(first, img_name[:20])
        _label(first, f'pred {name(p)}', 1)
        if label is not None:
            _label(first, f'true {name(label)}', 2)
        tiles = [first] + [_map_tile(img, m[h], tile, titles[h]) for h in range(m.size(0))]
        if flip is not None:
            fmaps, flogits = flip
            fimg = np.ascontiguousarray(img[:, ::-1])
            tiles += [_map_tile(fimg, fmaps[i, h], tile, f'flip {titles[h]}')
                      for h in range(fmaps.size(1))]
            _label(tiles[-1], f'pred {name(int(flogits[i].argmax()))}', 1)
            for h in range(fmaps.size(1)):
                back = torch.flip(fmaps[i, h], dims=(-1, ))
                diff = float((_scaled(back) - _scaled(m[h])).abs().mean())
                t = overlay(img, back, tile)
                _label(t, 'flipped back')
                _label(t, f'mean |diff| {diff:.3f}', 1)
                tiles.append(t)
        if guidance is not None:
            g = guidance[i, 0]
            face = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_LINEAR)
            up = F.interpolate(g[None, None], size=(tile, tile), mode='nearest')[0, 0].numpy()
            mask = np.repeat(up[:, :, None], 3, axis=2)
            t = (face * (0.35 + 0.65 * mask)).astype(np.uint8)
            _label(t, f'G  {int(g.sum())}/{g.numel()} attentive')
            tiles.append(t)
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


def flip_differences(maps: torch.Tensor, flipped_maps: torch.Tensor) -> torch.Tensor:
    """Per image (mean over its maps): mean |scaled(m) − scaled(flip(m′))|, the number written
    on the "flipped back" tiles."""
    out = torch.zeros(maps.size(0))
    for i in range(maps.size(0)):
        out[i] = torch.stack([
            (_scaled(torch.flip(flipped_maps[i, h], dims=(-1, ))) - _scaled(maps[i, h])).abs()
            .mean() for h in range(maps.size(1))]).mean()
    return out


def _pack(pipeline, images):
    packed = [pipeline(dict(img=img.copy(), img_path=name, ori_shape=img.shape[:2],
                            img_shape=img.shape[:2]))
              for img, name, _ in images]
    return dict(inputs=[p['inputs'] for p in packed],
                data_samples=[p['data_samples'] for p in packed])


def main(argv=None):
    args = parse_args(argv)
    DRAW.update(scale=args.scale, interp=args.interp)
    cfg, model, classes, meta = build_model(args)
    if classes is None:
        from mmfer.datasets.synthfer_render import CLASSES as SYNTH_CLASSES
        classes = list(SYNTH_CLASSES) if args.synthfer else None
    images = load_images(args)
    pipeline = test_pipeline(cfg)
    batch = _pack(pipeline, images)
    maps, logits, titles = attention_maps(model, batch, args.maps)
    flip = None
    if args.flip:
        flipped = [(np.ascontiguousarray(img[:, ::-1]), name, label)
                   for img, name, label in images]
        fmaps, flogits, _ = attention_maps(model, _pack(pipeline, flipped), args.maps)
        flip = (fmaps, flogits)
    guidance = guidance_maps(model, meta, batch) if args.guidance else None
    grid = make_grid(images, maps, logits, classes, args.tile, titles, flip, guidance)
    if flip is not None:
        diffs = flip_differences(maps, flip[0])
        print(f'flip consistency: mean |map − flip(map of the flipped image)| after per-map '
              f'min-max scaling, over {len(images)} images: {float(diffs.mean()):.4f} '
              f'(median {float(diffs.median()):.4f})')
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    if not cv2.imwrite(args.out, grid):
        raise OSError(f'could not write {args.out}; use a .png path in a writable folder')
    print(f'saved {maps.size(1)} {args.maps} map(s) ({maps.size(2)}×{maps.size(3)})'
          f'{" + flipped view" if flip else ""}{" + guidance G" if args.guidance else ""} for '
          f'{len(images)} images to {args.out} ({grid.shape[1]}×{grid.shape[0]} px)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
