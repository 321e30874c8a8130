"""Convert IR-50/100/152 weights (face.evoLVe / POSTER_V2 / QCS ``ir50.pth``) to mmfer.

    python tools/model_converters/ir50_to_mmfer.py ir50.pth checkpoints/ir50_mmfer.pth

Input: layout A (``body1/body2/body3`` — POSTER_V2/QCS ``ir50.pth``, 304 entries) or layout B
(``body.N`` — face.evoLVe), optionally ``module.``-prefixed or wrapped in ``{'state_dict': ...}``;
also the ``ir_back.*`` trunk of a QCS/POSTER model checkpoint. The layout is detected; B is mapped
to A; ``output_layer.*`` and unbuilt stages are dropped (declared and printed); the result is
checked key-for-key and shape-for-shape against ``IResNet(depth, num_stages)`` — anything else
raises (mmfer/utils/converters/ir50.py).

Output: ``{'state_dict': ..., 'meta': {'converted_from': ...}}``. With the default ``--prefix ''``
the file loads into a bare backbone: ``backbone=dict(type='IResNet', pretrained='<out>')``.
``--prefix backbone.`` gives classifier-level names.
"""
import argparse
import os
import os.path as osp
import sys



def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='IR weight file (layout A or B)')
    parser.add_argument('dst', help='output mmfer checkpoint (.pth)')
    parser.add_argument('--depth', type=int, default=50, choices=(50, 100, 152))
    parser.add_argument('--num-stages', type=int, default=3, choices=(1, 2, 3, 4),
                        help='stages of the target IResNet (3 for POSTER++/QCS/PCDA)')
    parser.add_argument('--with-output-layer', action='store_true',
                        help='keep the face-recognition output layer (needs --num-stages 4)')
    parser.add_argument('--prefix', default='', help="prefix of the output keys (default '')")
    return parser.parse_args(argv)


def main(argv=None):
    from mmfer.utils.checkpoint import atomic_torch_save
    from mmfer.utils.converters.ir50 import convert_ir50_checkpoint, load_ir_file

    args = parse_args(argv)
    out = convert_ir50_checkpoint(load_ir_file(args.src), depth=args.depth,
                                  num_stages=args.num_stages,
                                  with_output_layer=args.with_output_layer, prefix=args.prefix,
                                  source=osp.basename(args.src))
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    atomic_torch_save(out, args.dst)  # temporary file + rename: never a partial dst
    info = out['meta']['converted_from']
    print(f'{args.src}: {info["source"]}; wrote {info["entries"]} entries to {args.dst}')
    for pat, n in info['dropped'].items():
        print(f'  declared drop: {n} entries of {pat}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
