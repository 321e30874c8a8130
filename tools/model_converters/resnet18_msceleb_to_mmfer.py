"""Convert torchvision-layout ResNet-18 weights (MS-Celeb-1M ``resnet18_msceleb.pth``) to mmfer.

    python tools/model_converters/resnet18_msceleb_to_mmfer.py resnet18_msceleb.pth \
        checkpoints/resnet18_msceleb_mmfer.pth

Input: a dict with the weights under ``'state_dict'`` (or a bare state dict), torchvision names,
with the 1000-way ``fc``. Output: ``{'state_dict': {'backbone.conv1.weight', ...}, 'meta': ...}``
— mmpretrain ``ResNet(depth=18)`` names under ``backbone.``; ``fc.*`` is dropped (declared and
printed); any other unknown or missing key is an error (mmfer/utils/converters/resnet.py).
Use ``--prefix ''`` for a file that loads into a bare backbone.
"""
import argparse
import os
import os.path as osp
import sys



def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='torchvision-layout ResNet-18 checkpoint')
    parser.add_argument('dst', help='output mmfer checkpoint (.pth)')
    parser.add_argument('--prefix', default='backbone.',
                        help="prefix of the output keys (default 'backbone.')")
    return parser.parse_args(argv)


def main(argv=None):
    from mmfer.utils.checkpoint import atomic_torch_save
    from mmfer.utils.checkpoint import safe_torch_load
    from mmfer.utils.converters.resnet import convert_resnet18_checkpoint

    args = parse_args(argv)
    out = convert_resnet18_checkpoint(safe_torch_load(args.src), prefix=args.prefix,
                                      source=osp.basename(args.src))
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    atomic_torch_save(out, args.dst)  # temporary file + rename: never a partial dst
    info = out['meta']['converted_from']
    print(f'converted {len(out["state_dict"])} entries from {args.src} to {args.dst}; '
          f'dropped {info["dropped"]}; added {info["added_num_batches_tracked"]} '
          f'num_batches_tracked buffers')
    return 0


if __name__ == '__main__':
    sys.exit(main())
