"""Facial expressions of every face in an image or a folder of images.

    python demo/image_demo.py INPUT CONFIG [CHECKPOINT] [--detector retinaface] \
        [--batch-size 32] [--device cpu] [--out-dir out] [--save-crops] [--input-size 224] \
        [--amp bf16] [--compile] [--no-channels-last]   (docs/performance.md)

INPUT is an image file or a folder (searched recursively). Prints one line per face
(``source  face k: class score  box``) and the throughput; ``--out-dir`` writes annotated
images (``vis/``), ``predictions.json`` and with ``--save-crops`` the aligned face crops.
docs/inference.md explains detectors, alignment and batching.
"""
import argparse
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('input', help='image file or folder of images')
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint (class names come from its meta); omitted: '
                        'constructor weights, for a smoke test')
    parser.add_argument('--detector', default='retinaface',
                        choices=['retinaface', 'haar', 'whole_image'],
                        help="face detector ('whole_image': the inputs are face crops)")
    parser.add_argument('--align', default='auto', choices=['auto', 'box'],
                        help='auto: 5-point similarity warp when the detector gives landmarks')
    parser.add_argument('--batch-size', type=int, default=32, help='faces per forward')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1 ...')
    # --amp [bf16|fp16], --compile [MODE], --(no-)channels-last (docs/performance.md)
    from mmfer.utils.performance import add_performance_args
    add_performance_args(parser)
    parser.add_argument('--input-size', type=int, nargs='+', default=None,
                        help='crop size H [W] (default: from the test pipeline)')
    parser.add_argument('--out-dir', default=None, help='write annotated images and JSON here')
    parser.add_argument('--save-crops', action='store_true', help='also write the face crops')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmfer.apis import FERInferencer
    from mmfer.utils.performance import inferencer_options
    fer = FERInferencer(args.config, args.checkpoint, device=args.device,
                        detector=args.detector, align=args.align, batch_size=args.batch_size,
                        input_size=args.input_size, **inferencer_options(args, args.device))
    start = time.perf_counter()
    images = faces = 0
    for res in fer(args.input, stream=True, out_dir=args.out_dir, save_crops=args.save_crops):
        images += 1
        if not res['faces']:
            print(f'{res["source"]}  no face')
        for k, f in enumerate(res['faces']):
            faces += 1
            box = ', '.join(f'{v:.0f}' for v in f['bbox'])
            print(f'{res["source"]}  face {k}: {f["pred_class"]} {f["pred_score"]:.3f}  '
                  f'[{box}]')
    took = time.perf_counter() - start
    print(f'{images} images, {faces} faces in {took:.2f} s: {images / took:.1f} images/s, '
          f'{faces / took:.1f} faces/s (detector included, batch size {args.batch_size})')
    if args.out_dir:
        print(f'annotated images and predictions.json in {args.out_dir}')


if __name__ == '__main__':
    main()
