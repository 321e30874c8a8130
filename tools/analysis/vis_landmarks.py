"""Draw predicted vs true landmarks of a landmark-regression model on its test images.

    python tools/analysis/vis_landmarks.py configs/landmarks/mobilefacenet_synthfer.py \
        work_dirs/mobilefacenet_synthfer/best_landmark_nme_epoch_8.pth \
        --num-images 8 --out docs/images/landmarks_synthfer.png

The first ``--num-images`` samples of the config's test dataset go through its pipeline and the
model's data preprocessor, as at test time. Grid of tiles: true points green, predicted red,
with each image's NME (% of the inter-ocular distance) written on its tile; the mean NME of the
shown images is printed.
"""
import argparse
import os.path as osp
import sys

import cv2
import numpy as np
import torch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='landmark-regression config (a LandmarkHead model)')
    parser.add_argument('checkpoint', help='mmfer checkpoint of that model')
    parser.add_argument('--num-images', type=int, default=8)
    parser.add_argument('--cols', type=int, default=4)
    parser.add_argument('--tile', type=int, default=224, help='tile side (pixels)')
    parser.add_argument('--out', default='landmarks.png', help='output PNG')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    from mmengine.config import Config

    from mmfer.apis import build_model
    from mmfer.evaluation.landmark_metric import nme
    from mmfer.registry import DATASETS
    from mmfer.utils.checkpoint import load_checkpoint

    cfg = Config.fromfile(args.config)
    model = build_model(cfg)
    load_checkpoint(model, args.checkpoint)
    model.eval()
    ds_cfg = dict(cfg.test_dataloader.dataset)
    if 'num_samples' in ds_cfg:
        ds_cfg['num_samples'] = max(args.num_images, 1)
    dataset = DATASETS.build(ds_cfg)
    items = [dataset[i] for i in range(min(args.num_images, len(dataset)))]
    batch = model.data_preprocessor(dict(inputs=[it['inputs'] for it in items],
                                         data_samples=[it['data_samples'] for it in items]))
    with torch.no_grad():
        preds = model.predict(batch['inputs'], batch['data_samples'])
    tiles, errors = [], []
    for item, ds in zip(items, preds):
        img = item['inputs'].permute(1, 2, 0).numpy().astype(np.uint8).copy()  # BGR, as loaded
        gt = np.asarray(ds.landmarks, np.float64)
        pred = ds.pred_landmarks.numpy().astype(np.float64)
        err = float(nme(pred[None], gt[None])[0] * 100)
        errors.append(err)
        s = args.tile / img.shape[1]
        tile = cv2.resize(img, (args.tile, round(img.shape[0] * s)), interpolation=cv2.INTER_CUBIC)
        for pts, colour in ((gt, (0, 200, 0)), (pred, (0, 0, 255))):
            for x, y in pts * s:
                cv2.circle(tile, (int(round(x)), int(round(y))), 2, colour, -1, cv2.LINE_AA)
        cv2.putText(tile, f'NME {err:.2f}%', (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    cols = min(args.cols, len(tiles))
    rows = [np.hstack(tiles[r:r + cols] + [np.zeros_like(tiles[0])] * (cols - len(tiles[r:r + cols])))
            for r in range(0, len(tiles), cols)]
    grid = np.vstack(rows)
    if not cv2.imwrite(args.out, grid):
        raise OSError(f'could not write {args.out}')
    print(f'{len(tiles)} images, mean NME {np.mean(errors):.2f} % of the inter-ocular distance '
          f'(green: true, red: predicted) → {args.out}')
    return float(np.mean(errors))


if __name__ == '__main__':
    main()
