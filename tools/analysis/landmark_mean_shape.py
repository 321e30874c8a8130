"""NME of the mean-shape predictor on SynthFER: the floor a landmark network must beat.

    python tools/analysis/landmark_mean_shape.py --train 2000 --test 1000 --size 112

Predicts, for every test face, the mean of the training faces' landmarks (pixels at --size) and
reports the NME (% of the inter-ocular distance, iBUG outer eye corners) that LandmarkNME would
give; compare with the `landmark/nme` of a trained model on the same test split.
"""
import argparse

import numpy as np


def landmarks(split: str, num: int, size: int) -> np.ndarray:
    from mmfer.datasets.synthfer import SynthFER
    ds = SynthFER(split=split, num_samples=num, img_size=size, pipeline=[])
    return np.stack([np.asarray(ds[i]['landmarks'], np.float64) for i in range(len(ds))])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--train', type=int, default=2000, help='training faces averaged')
    parser.add_argument('--test', type=int, default=1000, help='test faces scored')
    parser.add_argument('--size', type=int, default=112, help='render size (pixels)')
    args = parser.parse_args(argv)
    from mmfer.evaluation.landmark_metric import nme
    mean = landmarks('train', args.train, args.size).mean(axis=0)
    gt = landmarks('test', args.test, args.size)
    errors = nme(np.broadcast_to(mean, gt.shape), gt)
    print(f'mean-shape NME on {len(gt)} SynthFER test faces at {args.size} px: '
          f'{errors.mean() * 100:.2f} % (failure rate @10 %: {(errors > 0.1).mean() * 100:.1f} %)')
    return float(errors.mean() * 100)


if __name__ == '__main__':
    main()
