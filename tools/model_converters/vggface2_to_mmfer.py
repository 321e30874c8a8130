"""Convert VGGFace2 ``senet50_ft_weight.pkl`` / ``resnet50_ft_weight.pkl`` to an mmfer checkpoint.

    python tools/model_converters/vggface2_to_mmfer.py senet50_ft_weight.pkl \
        checkpoints/senet50_ft_mmfer.pth
    python tools/model_converters/vggface2_to_mmfer.py resnet50_ft_weight.pkl \
        checkpoints/resnet50_ft_mmfer.pth

Input: a Python-2 pickle of a dict name → numpy array (cydonia999/VGGFace2-pytorch), read with
mmfer's numpy-only unpickler (``mmfer.utils.checkpoint.numpy_pickle_load``: any global besides
numpy array reconstruction is refused, nothing is executed). Output:
``{'state_dict': {'backbone.conv1.weight', ...}, 'meta': ...}`` for ``VGGFace2SEResNet`` /
``VGGFace2ResNet`` (SE keys ``conv4``/``conv5`` renamed to ``se_layer.conv1/conv2.conv``); the
8631-way ``fc`` is dropped (declared and printed); any other unknown, missing or mis-shaped key is
an error (mmfer/utils/converters/vggface2.py). The DacFER configs load it with
``model.pretrained=dict(checkpoint=..., prefix='backbone.')``.
"""
import argparse
import os
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='senet50_ft_weight.pkl or resnet50_ft_weight.pkl')
    parser.add_argument('dst', help='output mmfer checkpoint (.pth)')
    parser.add_argument('--arch', choices=['auto', 'senet50', 'resnet50'], default='auto',
                        help='network of the file (default: detected from the SE keys)')
    parser.add_argument('--prefix', default='backbone.',
                        help="prefix of the output keys (default 'backbone.')")
    parser.add_argument('--width', type=int, default=64,
                        help='stem/base channels of the target network (64 = the released '
                             'networks; smaller only for tests)')
    return parser.parse_args(argv)


def main(argv=None):
    from mmfer.utils.checkpoint import atomic_torch_save, numpy_pickle_load
    from mmfer.utils.converters.vggface2 import convert_vggface2_checkpoint

    args = parse_args(argv)
    weights = numpy_pickle_load(args.src, what='VGGFace2 weight')
    out = convert_vggface2_checkpoint(weights, arch=None if args.arch == 'auto' else args.arch,
                                      prefix=args.prefix, width=args.width,
                                      source=osp.basename(args.src))
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    atomic_torch_save(out, args.dst)  # temporary file + rename: never a partial dst
    info = out['meta']['converted_from']
    print(f'converted {len(weights)} arrays of {args.src} ({info["source"]}) to '
          f'{len(out["state_dict"])} entries in {args.dst}; dropped {info["dropped"]}; renamed '
          f'{info["renamed_se_keys"]} SE keys; added {info["added_num_batches_tracked"]} '
          'num_batches_tracked buffers')
    return 0


if __name__ == '__main__':
    sys.exit(main())
