"""Throughput and memory of FERInferencer end to end (detector, alignment, classifier).

    python tools/analysis/benchmark_inferencer.py CONFIG [--weights CKPT] \
        [--detector retinaface] [--batch-sizes 1 32] [--images 64] [--frames 200] \
        [--long-frames 3000] [--device cpu] [--threads 1] [--work-dir DIR] [--out result.json]
        [--onnx MODEL.onnx]

Generated data, so that any machine reproduces the run: SynthFER faces (112 px renders of the
test split) pasted at two places of a 320×200 grey canvas (the second face is missing on every
fifth image), as a folder of ``--images`` PNGs and as an mp4 of ``--frames`` frames where the
faces move. For each batch size, on the folder and on the video:

* ``images/s`` or ``frames/s`` and ``faces/s`` end to end (reading, detection, alignment,
  classification; the first run of each input is a warm-up and not timed),
* ``classifier faces/s``: faces per second spent in ``FERInferencer.classify`` alone (the part
  batching speeds up).

Memory: a ``--long-frames`` video is run once (batch size the last of ``--batch-sizes``) with
the resident set size (``/proc/self/statm``) read after the model is built, after 100 frames and
at the end; the growth from frame 100 to the end is what a longer video would add.
Weights do not change the speed: without ``--weights`` the model keeps its constructor weights.
``--onnx FILE`` (from ``tools/deployment/pytorch2onnx.py``) runs the classifier through
onnxruntime instead of PyTorch (``FERInferencer(onnx=...)``); run the command twice, with and
without it, to compare the two classifiers end to end.
"""
import argparse
import json
import os
import os.path as osp
import tempfile
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config')
    parser.add_argument('--weights', default=None, help='checkpoint (optional)')
    parser.add_argument('--detector', default='retinaface',
                        choices=['retinaface', 'haar', 'whole_image'], help='face detector')
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 32],
                        help='classifier batch sizes to compare')
    parser.add_argument('--images', type=int, default=64, help='images in the folder')
    parser.add_argument('--frames', type=int, default=200, help='frames of the video')
    parser.add_argument('--long-frames', type=int, default=3000,
                        help='frames of the memory run (0: skip it)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda ...')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch and onnxruntime intra-op threads (0: leave the default)')
    parser.add_argument('--work-dir', default=None,
                        help='where the generated images and videos go (default: a temp dir)')
    parser.add_argument('--out', default=None, help='write the results as JSON here')
    parser.add_argument('--onnx', default=None,
                        help='an exported .onnx classifier to run instead of PyTorch')
    return parser.parse_args(argv)


def rss_mib() -> float:
    """Resident set size of this process in MiB (Linux ``/proc/self/statm``)."""
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') / 2**20


def make_frame(faces, t, two=True):
    import numpy as np
    img = np.full((200, 320, 3), 80, np.uint8)
    x = 10 + (t * 3) % 50
    img[30:142, x:x + 112] = faces[t % len(faces)]
    if two:
        y = 40 + (t * 2) % 40
        img[y:y + 112, 196:308] = faces[(t + 1) % len(faces)]
    return img


def make_data(work_dir, images, frames, long_frames):
    """Folder of PNGs, a video and a long video of moving SynthFER faces (see the module)."""
    import cv2
    import numpy as np

    from mmfer.datasets.synthfer_render import render, sample_params
    faces = [np.ascontiguousarray(render(sample_params(0, i, split='test'), size=112)[0][..., ::-1])
             for i in range(8)]
    folder = osp.join(work_dir, 'images')
    os.makedirs(folder, exist_ok=True)
    for t in range(images):
        cv2.imwrite(osp.join(folder, f'{t:05d}.png'), make_frame(faces, t, two=t % 5 != 4))
    paths = {}
    for name, n in (('video', frames), ('long_video', long_frames)):
        if not n:
            continue
        paths[name] = osp.join(work_dir, f'{name}.mp4')
        vw = cv2.VideoWriter(paths[name], cv2.VideoWriter_fourcc(*'mp4v'), 25, (320, 200))
        for t in range(n):
            vw.write(make_frame(faces, t, two=t % 5 != 4))
        vw.release()
    return folder, paths


def timed_run(fer, source, batch_size):
    """(seconds, items, faces, classifier seconds) of one streamed run over ``source``."""
    spent = [0.0]
    classify = fer.classify

    def timed_classify(crops):
        t = time.perf_counter()
        out = classify(crops)
        spent[0] += time.perf_counter() - t
        return out

    fer.classify = timed_classify
    try:
        start = time.perf_counter()
        items = faces = 0
        for res in fer(source, batch_size=batch_size, stream=True):
            items += 1
            faces += len(res['faces'])
        return time.perf_counter() - start, items, faces, spent[0]
    finally:
        fer.classify = classify


def main(argv=None):
    args = parse_args(argv)
    import torch

    from mmfer.apis import FERInferencer
    if args.threads:
        torch.set_num_threads(args.threads)
    rss_start = rss_mib()
    detector_cfg = ({'num_threads': args.threads}
                    if args.detector == 'retinaface' and args.threads else None)
    fer = FERInferencer(args.config, args.weights, device=args.device, detector=args.detector,
                        detector_cfg=detector_cfg, onnx=args.onnx)
    rss_model = rss_mib()
    work = args.work_dir or tempfile.mkdtemp(prefix='bench_inferencer_')
    folder, videos = make_data(work, args.images, args.frames, args.long_frames)
    result = dict(config=args.config, detector=args.detector, device=args.device,
                  threads=args.threads, input_size=list(fer.input_size), onnx=args.onnx,
                  classifier='onnxruntime' if args.onnx else 'pytorch', runs=[])
    print(f'{args.config}: input {fer.input_size[0]}×{fer.input_size[1]}, detector '
          f'{args.detector}, classifier {result["classifier"]}, device {args.device}, '
          f'{args.threads or "default"} thread(s)')
    print(f'{"input":<8} {"batch":>5} {"items/s":>9} {"faces/s":>9} {"classifier faces/s":>19}'
          f' {"faces":>6}')
    sources = [('images', folder)] + ([('video', videos['video'])] if 'video' in videos else [])
    for name, source in sources:
        timed_run(fer, source, args.batch_sizes[-1])  # warm-up (allocator, ONNX session)
        for bs in args.batch_sizes:
            took, items, faces, cls = timed_run(fer, source, bs)
            run = dict(input=name, batch_size=bs, items=items, faces=faces, seconds=took,
                       items_per_s=items / took, faces_per_s=faces / took,
                       classifier_faces_per_s=faces / cls if cls else None)
            result['runs'].append(run)
            unit = 'images/s' if name == 'images' else 'frames/s'
            print(f'{name:<8} {bs:>5} {run["items_per_s"]:>9.1f} {run["faces_per_s"]:>9.1f} '
                  f'{run["classifier_faces_per_s"] or 0:>19.1f} {faces:>6}   ({unit})')
    if 'long_video' in videos:
        rss = dict(start=rss_start, after_model=rss_model)
        frames = 0
        for res in fer(videos['long_video'], batch_size=args.batch_sizes[-1], stream=True):
            frames += 1
            if frames == 100:
                rss['frame_100'] = rss_mib()
        rss['end'] = rss_mib()
        rss['frames'] = frames
        rss['growth_after_frame_100'] = rss['end'] - rss.get('frame_100', rss['end'])
        result['memory_mib'] = rss
        print(f'RSS (MiB): start {rss_start:.0f}, model built {rss_model:.0f}, frame 100 '
              f'{rss.get("frame_100", float("nan")):.0f}, end of {frames} frames '
              f'{rss["end"]:.0f} (growth after frame 100: {rss["growth_after_frame_100"]:+.1f})')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
