"""Overlay a neck's per-head spatial attention maps on faces and save one PNG.

    # a trained model on a folder of face images
    python tools/analysis/vis_attention.py configs/dan/dan_r18_rafdb.py work_dirs/dan/best.pth \
        --img-dir demo/faces --out work_dirs/dan/attention.png
    # smoke test: random weights on SynthFER faces rendered on the fly
    python tools/analysis/vis_attention.py configs/dan/dan_r18_synthfer.py --no-ckpt \
        --synthfer 6 --out attention.png

Works for any model whose neck returns ``attn_maps`` (N×H×h×w, or N×h×w for a single map), e.g.
DAN's ``MultiHeadCrossAttention`` (the heads' channel-summed spatial maps s).  The images go
through the config's test pipeline and the model's data preprocessor, exactly as at test time.
Grid: one row per image — the input (with predicted and, if known, true class), then one
overlay per head (bilinear upsampling of the map, min-max scaled per map, JET colour map,
50 % blend); the raw maximum of each map is written on its tile (DAN's maps are unnormalised).
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
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='key=value overrides of the config (mmengine syntax)')
    args = parser.parse_args(argv)
    if (args.checkpoint is None) == (not args.no_ckpt):
        parser.error('give either a checkpoint or --no-ckpt')
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
    """(config, model in eval mode on ``args.device``, class names of the checkpoint or None);
    the model is built by :func:`mmfer.apis.build_model` (as the Runner builds it)."""
    from mmfer.apis import build_model as build_fer_model
    from mmfer.apis import load_model_config
    from mmfer.utils.checkpoint import LOSS_STATE_KEYS, load_checkpoint
    cfg = load_model_config(args.config, args.cfg_options)
    torch.manual_seed(args.seed)
    model = build_fer_model(cfg)
    classes = None
    if args.checkpoint:
        ckpt = load_checkpoint(model, args.checkpoint, ignore_missing=[LOSS_STATE_KEYS])
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
        classes = meta.get('classes') or (meta.get('dataset_meta') or {}).get('classes')
    # --no-ckpt: the weights the modules got at construction (seeded); a smoke test only
    return cfg, model.to(args.device).eval(), classes


def test_pipeline(cfg):
    from mmengine.dataset import Compose
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if not loader:
        raise KeyError(f'{cfg.filename}: no test_dataloader / val_dataloader to take the test '
                       'pipeline from')
    return Compose(loader['dataset']['pipeline'])


def attention_maps(model, batch) -> tuple:
    """Run backbone + neck; return (attn_maps N×H×h×w, logits N×C)."""
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        feats = model.extract_feat(data['inputs'])
        if 'attn_maps' not in feats:
            raise KeyError(f'the neck {type(model.neck).__name__} returns {sorted(feats)} but no '
                           '"attn_maps"; this tool needs a neck that exposes its spatial '
                           'attention maps (N×H×h×w)')
        maps = feats['attn_maps']
        if maps.dim() == 3:
            maps = maps.unsqueeze(1)
        if maps.dim() != 4:
            raise ValueError(f'attn_maps must be N×H×h×w or N×h×w, got {tuple(maps.shape)}')
        logits = model.head(feats)
    return maps.float().cpu(), logits.float().cpu()


def overlay(img_bgr: np.ndarray, amap: torch.Tensor, tile: int) -> np.ndarray:
    """Blend one h×w map (upsampled, min-max scaled, JET) with the tile-sized image."""
    face = cv2.resize(img_bgr, (tile, tile), interpolation=cv2.INTER_LINEAR)
    up = F.interpolate(amap[None, None], size=(tile, tile), mode='bilinear',
                       align_corners=False)[0, 0].numpy()
    lo, hi = float(up.min()), float(up.max())
    norm = (up - lo) / (hi - lo) if hi > lo else np.zeros_like(up)
    heat = cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.addWeighted(face, 0.5, heat, 0.5, 0)


def _label(tile_img, text, row=0):
    # white on a black outline: readable on any face or heat colour
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(tile_img, text, (3, 12 + 12 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    colour, thickness, cv2.LINE_AA)


def make_grid(images, maps, logits, classes, tile):
    rows = []
    pred = logits.argmax(1).tolist()
    name = (lambda i: classes[i] if classes and i < len(classes) else str(i))
    for (img, img_name, label), m, p in zip(images, maps, pred):
        first = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_LINEAR)
        _label(first, img_name[:20])
        _label(first, f'pred {name(p)}', 1)
        if label is not None:
            _label(first, f'true {name(label)}', 2)
        tiles = [first]
        for h in range(m.size(0)):
            t = overlay(img, m[h], tile)
            mx = float(m[h].max())
            _label(t, f'head {h + 1}  max {mx:.0f}' if mx >= 100 else f'head {h + 1}  max {mx:.3g}')
            tiles.append(t)
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


def main(argv=None):
    args = parse_args(argv)
    cfg, model, classes = build_model(args)
    if classes is None:
        from mmfer.datasets.synthfer_render import CLASSES as SYNTH_CLASSES
        classes = list(SYNTH_CLASSES) if args.synthfer else None
    images = load_images(args)
    pipeline = test_pipeline(cfg)
    packed = [pipeline(dict(img=img.copy(), img_path=name, ori_shape=img.shape[:2],
                            img_shape=img.shape[:2]))
              for img, name, _ in images]
    batch = dict(inputs=[p['inputs'] for p in packed],
                 data_samples=[p['data_samples'] for p in packed])
    maps, logits = attention_maps(model, batch)
    grid = make_grid(images, maps, logits, classes, args.tile)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    if not cv2.imwrite(args.out, grid):
        raise OSError(f'could not write {args.out}; use a .png path in a writable folder')
    print(f'saved {maps.size(1)} head maps ({maps.size(2)}×{maps.size(3)}) for {len(images)} '
          f'images to {args.out} ({grid.shape[1]}×{grid.shape[0]} px)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
