"""Save a PNG grid of dataset samples with their class names.

Two modes:

- **SynthFER** (``--synthfer``): renders samples of :class:`~mmfer.datasets.SynthFER` directly and
  draws, on each, the 68 landmarks (green: visible, orange: on the far side of the head,
  red: under an occluder), the head-pose axes at the nose tip (x red, y green, z blue, from the
  renderer's rotation matrix) and a caption with the class, intensity and yaw/pitch/roll.
  ``--per-class K`` lays the grid out as K rows × 7 class columns.
- **Config** (``CONFIG``): builds ``<phase>_dataloader.dataset`` of the config (any dataset) and
  draws the *pipeline outputs* (the ``inputs`` tensor ``PackInputs`` made, i.e. what the data
  preprocessor receives, before normalisation; BGR as mmcv loads images, ``--rgb-inputs`` for
  pipelines that produce RGB) with the class name of ``gt_label``.

``--palette`` writes a 256-colour PNG (a fraction of the size; used for the picture in the docs).

Examples::

    python tools/analysis/browse_dataset.py --synthfer --per-class 3 --size 96 \\
        --out docs/images/synthfer_grid.png --palette
    python tools/analysis/browse_dataset.py configs/baseline/r18_synthfer_otf.py --num 24 \\
        --out work_dirs/browse.png
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

import cv2
import numpy as np
from mmengine.config import DictAction

CAPTION = 14   # caption band height in pixels (per tile, at 1× scale)


def parse_args(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', help='config file (config mode)')
    parser.add_argument('--synthfer', action='store_true', help='SynthFER mode (no config)')
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--num', type=int, default=24, help='samples (config mode / SynthFER)')
    parser.add_argument('--per-class', type=int, default=0,
                        help='SynthFER: K rows of one sample per class (overrides --num)')
    parser.add_argument('--cols', type=int, default=0, help='grid columns (default: auto)')
    parser.add_argument('--scale', type=float, default=1.0, help='tile magnification')
    parser.add_argument('--phase', default='train', choices=('train', 'val', 'test'))
    parser.add_argument('--start', type=int, default=0, help='first dataset index')
    # SynthFER options
    parser.add_argument('--size', type=int, default=112)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--split', default='train')
    parser.add_argument('--subset', default=None,
                        choices=(None, 'pose30', 'pose45', 'occlusion', 'weak'))
    parser.add_argument('--no-landmarks', action='store_true')
    parser.add_argument('--palette', action='store_true', help='write a 256-colour PNG')
    parser.add_argument('--rgb-inputs', action='store_true',
                        help='config mode: the pipeline outputs RGB (default: BGR, like mmcv)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries (config mode)')
    args = parser.parse_args(argv)
    if bool(args.config) == bool(args.synthfer):
        parser.error('give either a CONFIG or --synthfer (exactly one)')
    return args


def _caption(tile: np.ndarray, lines: List[str], scale: float) -> np.ndarray:
    """Append a dark caption band below a BGR tile."""
    h = int(round(CAPTION * scale * len(lines)))
    band = np.full((h, tile.shape[1], 3), 30, np.uint8)
    fs = 0.33 * scale
    for k, text in enumerate(lines):
        cv2.putText(band, text, (2, int((k + 0.75) * CAPTION * scale)), cv2.FONT_HERSHEY_SIMPLEX,
                    fs, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([tile, band], 0)


def make_grid(tiles: List[np.ndarray], cols: int) -> np.ndarray:
    """Tiles (same size, BGR) → one image, row-major, 2-pixel gaps."""
    h, w = tiles[0].shape[:2]
    rows = (len(tiles) + cols - 1) // cols
    grid = np.full((rows * (h + 2) - 2, cols * (w + 2) - 2, 3), 255, np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        grid[r * (h + 2):r * (h + 2) + h, c * (w + 2):c * (w + 2) + w] = t
    return grid


def draw_synthfer(res: dict, classes, scale: float, landmarks: bool = True) -> np.ndarray:
    """One annotated SynthFER tile (BGR) from ``SynthFER.render_sample`` results."""
    from mmfer.datasets.synthfer_render import rotation_matrix
    img = res['img']
    if scale != 1:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    img = img.copy()
    yaw, pitch, roll = (float(v) for v in res['pose'])
    if landmarks:
        # small dots (a 1-pixel-radius cross below 3× magnification) so the face stays visible
        r = max(1, int(scale // 2))
        h, w = img.shape[:2]
        for (x, y), vis, occ in zip(res['landmarks'] * scale, res['landmarks_visible'],
                                    res['landmarks_occluded']):
            col = (0, 0, 255) if occ else (0, 255, 0) if vis else (0, 160, 255)
            xi, yi = int(round(x)), int(round(y))
            if 0 <= xi < w and 0 <= yi < h:
                cv2.circle(img, (xi, yi), r, col, -1, cv2.LINE_4 if r == 1 else cv2.LINE_AA)
        # pose axes at the nose tip: the head frame's unit vectors, projected (x right, y down)
        R = rotation_matrix(yaw, pitch, roll)
        o = res['landmarks'][30] * scale
        length = 0.22 * img.shape[1]
        for axis, col in ((0, (0, 0, 255)), (1, (0, 200, 0)), (2, (255, 80, 0))):
            d = R[:2, axis] * length * (-1 if axis == 1 else 1)   # y axis drawn upwards
            cv2.arrowedLine(img, tuple(int(v) for v in o), tuple(int(v) for v in o + d), col,
                            max(1, int(scale // 2)), cv2.LINE_AA, tipLength=0.2)
    label = int(res['gt_label'])
    name = classes[label]
    if res.get('gt_label_clean', label) != label:
        name += f' (true {classes[res["gt_label_clean"]]})'
    lines = [f'{name} {res["intensity"]:.2f}' if label != 6 or res['intensity'] else name,
             f'y{yaw:+.0f} p{pitch:+.0f} r{roll:+.0f}']
    return _caption(img, lines, scale)


def synthfer_tiles(args) -> List[np.ndarray]:
    from mmfer.datasets.synthfer import SynthFER
    n = args.per_class * 7 if args.per_class else args.num
    ds = SynthFER(num_samples=max(n * 4, 64) + args.start, split=args.split, img_size=args.size,
                  seed=args.seed, subset=args.subset)
    classes = ds.metainfo['classes']
    if args.per_class:
        labels = ds.get_gt_labels()
        picks = []
        for row in range(args.per_class):
            for c in range(len(classes)):
                idx = np.flatnonzero(labels[args.start:] == c) + args.start
                if row >= len(idx):
                    raise RuntimeError(
                        f'not enough samples of class {classes[c]}; lower --per-class')
                picks.append(int(idx[row]))
    else:
        picks = list(range(args.start, args.start + n))
    return [draw_synthfer(ds.render_sample(i), classes, args.scale, not args.no_landmarks)
            for i in picks]


def config_tiles(args) -> List[np.ndarray]:
    import mmfer  # noqa: F401  (registers mmfer modules)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmfer.registry import DATASETS
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmfer'))
    key = f'{args.phase}_dataloader'
    if key not in cfg or 'dataset' not in cfg[key]:
        raise KeyError(f'{args.config} has no {key}.dataset; choose another --phase')
    ds = DATASETS.build(cfg[key]['dataset'])
    classes = ds.metainfo.get('classes')
    tiles = []
    for i in range(args.start, min(len(ds), args.start + args.num)):
        out = ds[i]
        x = out['inputs']
        if isinstance(x, list):     # multi-view pipelines: show the first view
            x = x[0]
        img = x.detach().cpu().numpy() if hasattr(x, 'detach') else np.asarray(x)
        if img.ndim == 4:
            img = img[0]
        img = np.ascontiguousarray(np.clip(img.transpose(1, 2, 0), 0, 255).astype(np.uint8))
        if img.shape[2] == 1:
            img = np.repeat(img, 3, 2)
        # mmcv / mmfer loaders (and SynthFER) give BGR, the order OpenCV writes; a pipeline
        # that produces RGB tensors needs --rgb-inputs
        if args.rgb_inputs:
            img = img[:, :, ::-1].copy()
        if args.scale != 1:
            img = cv2.resize(img, None, fx=args.scale, fy=args.scale,
                             interpolation=cv2.INTER_NEAREST)
        ds_sample = out['data_samples']
        label = int(ds_sample.gt_label[0]) if 'gt_label' in ds_sample else -1
        name = classes[label] if classes is not None and 0 <= label < len(classes) else str(label)
        tiles.append(_caption(img, [f'{i}: {name}'], max(args.scale, 1.0)))
    if not tiles:
        raise RuntimeError(
            f'the {args.phase} dataset of {args.config} has no samples from {args.start}')
    # tiles of different sizes (no resize in the pipeline) are padded to the largest
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    return [cv2.copyMakeBorder(t, 0, h - t.shape[0], 0, w - t.shape[1], cv2.BORDER_CONSTANT,
                               value=(255, 255, 255)) for t in tiles]


def main(argv: Optional[List[str]] = None) -> str:
    args = parse_args(argv)
    tiles = synthfer_tiles(args) if args.synthfer else config_tiles(args)
    if args.cols:
        cols = args.cols
    elif args.synthfer and args.per_class:
        cols = 7
    else:
        cols = int(np.ceil(np.sqrt(len(tiles))))
    grid = make_grid(tiles, cols)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    if args.palette:
        from PIL import Image
        Image.fromarray(grid[:, :, ::-1]).quantize(256, method=Image.Quantize.MEDIANCUT).save(
            args.out, optimize=True)
    elif not cv2.imwrite(args.out, grid, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f'could not write {args.out}')
    print(f'wrote {args.out}: {len(tiles)} samples, {grid.shape[1]}x{grid.shape[0]} px, '
          f'{osp.getsize(args.out) / 1024:.0f} KB')
    return args.out


if __name__ == '__main__':
    main(sys.argv[1:])
