"""Grad-CAM / Grad-CAM++ of any mmfer classifier on faces, as one PNG grid.

    # a trained model on a folder of face crops
    python tools/analysis/vis_cam.py configs/dan/dan_r18_rafdb.py work_dirs/dan/best.pth \
        --target-layer backbone.layer4 --img-dir faces/ --method gradcam++ --out cam.png
    # SynthFER test faces rendered on the fly; constructor weights (a smoke test)
    python tools/analysis/vis_cam.py configs/baseline/r18_synthfer.py --no-ckpt \
        --target-layer backbone.layer4 --synthfer 8 --out cam.png --save-npy cams.npy
    # the module names a target layer can be
    python tools/analysis/vis_cam.py configs/qcs/poster_base_synthfer.py --list-layers

The CAMs come from the maintained ``grad-cam`` package (import ``pytorch_grad_cam``, the ``vis``
extra; mmpretrain's own ``vis_cam.py`` does not run with this dependency set). The mmfer model
is wrapped so that it maps the preprocessed batch to logits (``model(x, mode='tensor')``; a
multi-view classifier runs its base network), which is what grad-cam expects. The target layer
is any module of the model, by its name in ``model.named_modules()`` (``--list-layers``), e.g.
``backbone.layer4`` (ResNet), ``backbone.layer4.1.conv2``, ``neck...``. Its output must be a
tensor: N×C×h×w maps are used as they are. N×L×C tokens (ViT blocks) are refused unless
``--tokens`` says how they lie on the image: ``square`` (L = s², a row-major s×s grid) or
``cls+square`` (a class token first, then s×s). Check the neck before: POSTER's ViT
(``neck.vit.blocks.k``) holds a class token and 3 pyramid levels of 4×4 tokens (1 + 48 = 49
tokens, which *would* fit a 7×7 square but are not one grid) — use a backbone layer there.

The explained class (``--target``): ``pred`` (default: each image's predicted class), ``true``
(the SynthFER label; images of ``--img-dir`` have none and fall back to the prediction) or a
class index. Methods (``--method``): ``gradcam``, ``gradcam++``, ``xgradcam``, ``layercam``,
``eigencam``, ``hirescam`` (the grad-cam classes of the same names).

Images go through the config's test pipeline (its loading step dropped) and the model's data
preprocessor, as at test time. Grid: one row per ``--cols`` images, each image as a pair of
tiles — the input (name, predicted class and score, true class when known) and its CAM blended
over it (``show_cam_on_image``, JET, 50 %). ``--save-npy`` writes the CAMs (N×H×W, each scaled
to 0..1 as grad-cam returns them) with the targets and predictions in a sibling ``.json``.
"""
import argparse
import json
import os
import os.path as osp
import sys

import numpy as np

IMG_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
METHODS = {'gradcam': 'GradCAM', 'gradcam++': 'GradCAMPlusPlus', 'xgradcam': 'XGradCAM',
           'layercam': 'LayerCAM', 'eigencam': 'EigenCAM', 'hirescam': 'HiResCAM'}
VIS_EXTRA = 'pip install -e ".[vis]"  (grad-cam, scikit-learn, tensorboard; make install does it)'


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', nargs='?', default=None, help='mmfer checkpoint')
    parser.add_argument('--no-ckpt', action='store_true',
                        help='use the constructor weights (a smoke test; CAMs are meaningless)')
    parser.add_argument('--target-layer', default=None,
                        help='module name, e.g. backbone.layer4 (see --list-layers)')
    parser.add_argument('--list-layers', action='store_true',
                        help='print the module names (and classes) and exit')
    parser.add_argument('--method', default='gradcam', choices=list(METHODS),
                        help='CAM method (default gradcam)')
    parser.add_argument('--tokens', default='none', choices=['none', 'square', 'cls+square'],
                        help='layout of N×L×C token outputs (default none: refuse them)')
    parser.add_argument('--target', default='pred',
                        help="explained class: pred (default), true, or a class index")
    src = parser.add_mutually_exclusive_group()
    src.add_argument('--img-dir', help='folder of face images (sorted, first --num-images)')
    src.add_argument('--synthfer', type=int, metavar='N', help='N SynthFER test faces')
    parser.add_argument('--num-images', type=int, default=16, help='images from --img-dir')
    parser.add_argument('--seed', type=int, default=0, help='SynthFER seed (and weight seed)')
    parser.add_argument('--cols', type=int, default=4, help='images per grid row')
    parser.add_argument('--tile', type=int, default=128, help='tile side in pixels')
    parser.add_argument('--out', default='cam.png', help='output PNG')
    parser.add_argument('--save-npy', default=None, help='also write the CAMs (N×H×W) here')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def logits_model(model):
    """The grad-cam-facing wrapper: ``forward(x)`` maps a preprocessed N×3×H×W batch to the
    N×C logits of ``model`` (a multi-view classifier: of its base network)."""
    import torch.nn as nn

    class Logits(nn.Module):

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            out = self.net(x, mode='tensor')
            return out['logits'] if isinstance(out, dict) else out
    net = model.inference_model() if hasattr(model, 'inference_model') else model
    return Logits(net).eval()


def tokens_to_maps(x, layout='none'):
    """grad-cam ``reshape_transform``: N×C×h×w unchanged; N×L×C tokens → N×C×s×s when
    ``layout`` is ``'square'`` (L = s²) or ``'cls+square'`` (L = 1 + s², the first dropped)."""
    if x.dim() == 4:
        return x
    if x.dim() != 3:
        raise ValueError(f'target layer output has shape {tuple(x.shape)}: expected N×C×h×w '
                         'maps or N×L×C tokens')
    n, length, c = x.shape
    if layout == 'none':
        raise ValueError(f'target layer gives N×L×C tokens ({tuple(x.shape)}); pass --tokens '
                         'square or cls+square if they form one grid, or choose a layer with '
                         'N×C×h×w output (e.g. a backbone stage)')
    if layout == 'cls+square':
        x, length = x[:, 1:], length - 1
    side = int(round(length ** 0.5))
    if side * side != length:
        raise ValueError(f'--tokens {layout}: {length} tokens are not a square grid')
    return x.reshape(n, side, side, c).permute(0, 3, 1, 2)


def find_layer(model, name):
    modules = dict(model.named_modules())
    if name not in modules:
        import difflib
        close = difflib.get_close_matches(name, list(modules), n=5, cutoff=0.5)
        raise KeyError(f'--target-layer {name!r} is not a module of {type(model).__name__}'
                       + (f'; close names: {", ".join(close)}' if close else '')
                       + ' (--list-layers prints them all)')
    return modules[name]


def load_images(args):
    """[(BGR uint8 image, name, true label or None)]."""
    import cv2
    if args.img_dir is not None:
        if not osp.isdir(args.img_dir):
            raise FileNotFoundError(f'--img-dir {args.img_dir!r} is not a folder')
        names = sorted(f for f in os.listdir(args.img_dir) if f.lower().endswith(IMG_EXTS))[
            :args.num_images]
        if not names:
            raise FileNotFoundError(f'no images ({", ".join(IMG_EXTS)}) in {args.img_dir!r}')
        out = []
        for name in names:
            img = cv2.imread(osp.join(args.img_dir, name), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f'{osp.join(args.img_dir, name)}: cannot decode the image')
            out.append((img, name, None))
        return out
    from mmfer.datasets.synthfer_render import render, sample_params
    faces = []
    for i in range(args.synthfer):
        rgb, ann = render(sample_params(args.seed, i, split='test'), size=args.size)
        faces.append((np.ascontiguousarray(rgb[:, :, ::-1]), f'synthfer {i}', int(ann['label'])))
    return faces


def preprocess(model, images, size):
    """Images resized to the input size → test pipeline → data preprocessor: N×3×H×W."""
    import cv2
    import torch

    from mmfer.apis.inference import _image_pipeline
    pipeline = _image_pipeline(model.test_pipeline)
    packed = []
    for img, _, _ in images:
        if img.shape[:2] != tuple(size):
            img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        packed.append(pipeline(dict(img=img, img_shape=img.shape[:2],
                                    ori_shape=img.shape[:2]))['inputs'])
    with torch.no_grad():
        return model.data_preprocessor(dict(inputs=packed), False)['inputs']


def compute_cams(model, layer_name, x, targets, method='gradcam', tokens='none'):
    """CAMs (N×H×W float32 in 0..1) of ``targets`` (class indices) at module ``layer_name``."""
    try:
        import pytorch_grad_cam
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError as e:
        raise ImportError(f'grad-cam is not installed: {VIS_EXTRA}') from e
    wrapped = logits_model(model)
    layer = find_layer(wrapped.net, layer_name)
    cam_cls = getattr(pytorch_grad_cam, METHODS[method])
    def reshape(t):
        return tokens_to_maps(t, tokens)
    with cam_cls(model=wrapped, target_layers=[layer], reshape_transform=reshape) as cam:
        out = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets])
    return np.asarray(out, np.float32)


def make_grid(images, cams, preds, scores, classes, tile, cols):
    import cv2
    from pytorch_grad_cam.utils.image import show_cam_on_image

    def name(i):
        return classes[i] if classes and i < len(classes) else str(i)

    def label(t, text, row):
        for colour, thick in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(t, text, (3, 12 + 12 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour,
                        thick, cv2.LINE_AA)
    pairs = []
    for (img, img_name, true), cam, p, s in zip(images, cams, preds, scores):
        face = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_LINEAR)
        heat = cv2.resize(cam, (tile, tile), interpolation=cv2.INTER_LINEAR)
        rgb = face[:, :, ::-1].astype(np.float32) / 255
        blend = show_cam_on_image(rgb, np.clip(heat, 0, 1), use_rgb=True)[:, :, ::-1].copy()
        first = face.copy()
        label(first, img_name[:20], 0)
        label(first, f'pred {name(p)} {s:.2f}', 1)
        if true is not None:
            label(first, f'true {name(true)}', 2)
        pairs.append(np.concatenate([first, blend], axis=1))
    blank = np.zeros_like(pairs[0])
    rows = []
    for r in range(0, len(pairs), cols):
        row = pairs[r:r + cols]
        if len(pairs) > cols:
            row = row + [blank] * (cols - len(row))
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)


def main(argv=None):
    args = parse_args(argv)
    import cv2
    import torch

    from mmfer.apis import init_model, model_input_size
    if args.checkpoint is None and not args.no_ckpt and not args.list_layers:
        raise SystemExit('give a checkpoint, or --no-ckpt for the constructor weights')
    torch.manual_seed(args.seed)
    model = init_model(args.config, args.checkpoint, args.device, args.cfg_options)
    if args.list_layers:
        net = model.inference_model() if hasattr(model, 'inference_model') else model
        lines = [f'{n}  ({type(m).__name__})' for n, m in net.named_modules()
                 if n and not n.startswith('data_preprocessor')]
        print('\n'.join(lines))
        return lines
    if args.target_layer is None:
        raise SystemExit('--target-layer NAME is required (e.g. backbone.layer4; see '
                         '--list-layers)')
    if args.img_dir is None and args.synthfer is None:
        raise SystemExit('give --img-dir DIR or --synthfer N')
    size = model_input_size(model)
    args.size = min(max(max(size), 32), 256)
    images = load_images(args)
    x = preprocess(model, images, size).to(args.device)
    with torch.no_grad():
        logits = logits_model(model)(x).float().cpu()
    probs = logits.softmax(1)
    preds = probs.argmax(1).tolist()
    if args.target == 'pred':
        targets = preds
    elif args.target == 'true':
        targets = [t if t is not None else p for (_, _, t), p in zip(images, preds)]
    else:
        try:
            targets = [int(args.target)] * len(images)
        except ValueError:
            raise SystemExit(f'--target {args.target!r}: use pred, true or a class index')
        if not 0 <= targets[0] < logits.shape[1]:
            raise SystemExit(f'--target {targets[0]} is not a class index (0..'
                             f'{logits.shape[1] - 1})')
    cams = compute_cams(model, args.target_layer, x, targets, args.method, args.tokens)
    classes = model.classes
    if classes is None:
        from mmfer.apis.fer_inferencer import config_classes
        classes = config_classes(model.cfg)
    grid = make_grid(images, cams, preds, probs.max(1).values.tolist(), classes, args.tile,
                     args.cols)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    cv2.imwrite(args.out, grid)
    summary = dict(out=args.out, method=args.method, target_layer=args.target_layer,
                   targets=[int(t) for t in targets], preds=preds, cam_shape=list(cams.shape),
                   names=[n for _, n, _ in images])
    if args.save_npy:
        np.save(args.save_npy, cams)
        with open(osp.splitext(args.save_npy)[0] + '.json', 'w') as f:
            json.dump(summary, f, indent=2)
    print(f'{args.method} at {args.target_layer} of {len(images)} images '
          f'(CAMs {cams.shape[1]}×{cams.shape[2]}) → {args.out} '
          f'({grid.shape[1]}×{grid.shape[0]} px)')
    return summary


if __name__ == '__main__':
    main()
    sys.exit(0)
