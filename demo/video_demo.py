"""Facial expressions in a video file or a webcam stream, frame by frame.

    python demo/video_demo.py VIDEO CONFIG [CHECKPOINT] [--out-dir out] [--detector retinaface] \
        [--batch-size 32] [--device cpu] [--max-frames 300] [--log-interval 100]

VIDEO is a video file or ``webcam:ID`` (e.g. ``webcam:0``). The face crops of consecutive
frames are classified together (``--batch-size`` faces per forward; at most that many frames
wait). ``--out-dir`` writes ``<name>.mp4`` (annotated), ``<name>.json`` (the results) and
``<name>.csv``: one row per face, and one row with empty face fields for a frame without a
face, so every frame appears. Throughput (frames/s and faces/s, detector included) is printed
every ``--log-interval`` frames and at the end. Stop a webcam with Ctrl-C (the files are
closed properly) or ``--max-frames``.
"""
import argparse
import csv
import os
import os.path as osp
import time

CSV_FIELDS = ['frame', 'face', 'x1', 'y1', 'x2', 'y2', 'det_score', 'pred_label', 'pred_class',
              'pred_score']


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('video', help="video file or 'webcam:ID'")
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint (class names come from its meta)')
    parser.add_argument('--detector', default='retinaface',
                        choices=['retinaface', 'haar', 'whole_image'], help='face detector')
    parser.add_argument('--align', default='auto', choices=['auto', 'box'],
                        help='auto: 5-point similarity warp when the detector gives landmarks')
    parser.add_argument('--batch-size', type=int, default=32, help='faces per forward')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1 ...')
    # --amp [bf16|fp16], --compile [MODE], --(no-)channels-last (docs/performance.md)
    from mmfer.utils.performance import add_performance_args
    add_performance_args(parser)
    parser.add_argument('--input-size', type=int, nargs='+', default=None,
                        help='crop size H [W] (default: from the test pipeline)')
    parser.add_argument('--max-frames', type=int, default=None, help='stop after N frames')
    parser.add_argument('--out-dir', default=None,
                        help='write <name>.mp4 (annotated), <name>.csv and <name>.json here')
    parser.add_argument('--log-interval', type=int, default=100,
                        help='print the throughput every N frames (0: only at the end)')
    return parser.parse_args(argv)


def csv_rows(res):
    if not res['faces']:
        return [dict(frame=res['frame_index'])]
    return [dict(frame=res['frame_index'], face=k, x1=f'{f["bbox"][0]:.1f}',
                 y1=f'{f["bbox"][1]:.1f}', x2=f'{f["bbox"][2]:.1f}', y2=f'{f["bbox"][3]:.1f}',
                 det_score=f'{f["det_score"]:.4f}', pred_label=f['pred_label'],
                 pred_class=f['pred_class'], pred_score=f'{f["pred_score"]:.4f}')
            for k, f in enumerate(res['faces'])]


def main(argv=None):
    args = parse_args(argv)
    from mmfer.apis import FERInferencer
    from mmfer.utils.performance import inferencer_options
    fer = FERInferencer(args.config, args.checkpoint, device=args.device,
                        detector=args.detector, align=args.align, batch_size=args.batch_size,
                        input_size=args.input_size, **inferencer_options(args, args.device))
    writer = csv_file = None
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        stem = osp.splitext(osp.basename(args.video.replace(':', '_')))[0]
        csv_path = osp.join(args.out_dir, stem + '.csv')
        csv_file = open(csv_path, 'w', newline='')
        writer = csv.DictWriter(csv_file, CSV_FIELDS)
        writer.writeheader()
    start = time.perf_counter()
    frames = faces = 0

    def report(tag):
        took = time.perf_counter() - start
        print(f'{tag}{frames} frames, {faces} faces in {took:.2f} s: {frames / took:.1f} '
              f'frames/s, {faces / took:.1f} faces/s (detector included, batch size '
              f'{args.batch_size})', flush=True)

    results = fer(args.video, stream=True, out_dir=args.out_dir, max_frames=args.max_frames)
    try:
        for res in results:
            frames += 1
            faces += len(res['faces'])
            if writer:
                writer.writerows(csv_rows(res))
            if args.log_interval and frames % args.log_interval == 0:
                report('')
    except KeyboardInterrupt:
        print('interrupted')
    finally:
        results.close()  # closes the annotated video and the JSON
        if csv_file:
            csv_file.close()
    report('total: ')
    if args.out_dir:
        print(f'annotated video, {stem}.csv and {stem}.json in {args.out_dir}')


if __name__ == '__main__':
    main()
