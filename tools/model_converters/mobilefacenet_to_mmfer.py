"""Convert the MobileFaceNet-136 landmark detector (``mobilefacenet_model_best.pth.tar``) to mmfer.

    python tools/model_converters/mobilefacenet_to_mmfer.py \
        mobilefacenet_model_best.pth.tar checkpoints/mobilefacenet_mmfer.pth

Input: the legacy (non-zip) torch file of cunjian/pytorch_face_landmark (top level ``epoch``,
``state_dict`` with 333 entries, ``acc``, ``best_acc``, ``optimizer``), read weights-only — no
code of the file runs. Output: ``{'state_dict': ..., 'meta': {'converted_from': ...}}`` in
torch's zip format, checked key-for-key and shape-for-shape against mmfer's ``MobileFaceNet``
(mmfer/utils/converters/mobilefacenet.py); the optimizer state and counters are dropped
(printed). Use it as ``aux_nets=dict(landmark=dict(type='MobileFaceNet', frozen=True,
pretrained='<out>'))``; ``--prefix aux_nets.landmark.`` gives classifier-level names.
"""
import argparse
import os
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='mobilefacenet_model_best.pth.tar')
    parser.add_argument('dst', help='output mmfer checkpoint (.pth)')
    parser.add_argument('--prefix', default='', help="prefix of the output keys (default '')")
    parser.add_argument('--num-landmarks', type=int, default=136,
                        help='outputs of the GDC head (136 = 68 points × 2)')
    return parser.parse_args(argv)


def main(argv=None):
    from mmfer.utils.checkpoint import atomic_torch_save
    from mmfer.utils.converters.mobilefacenet import (convert_mobilefacenet_checkpoint,
                                                      load_mobilefacenet_file)

    args = parse_args(argv)
    out = convert_mobilefacenet_checkpoint(load_mobilefacenet_file(args.src), prefix=args.prefix,
                                           num_landmarks=args.num_landmarks,
                                           source=osp.basename(args.src))
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    atomic_torch_save(out, args.dst)  # temporary file + rename: never a partial dst
    info = out['meta']['converted_from']
    print(f'{args.src}: {info["source"]}; wrote {info["entries"]} entries to {args.dst}')
    if info['dropped_top_level']:
        print(f'  declared drop: top-level entries {info["dropped_top_level"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
