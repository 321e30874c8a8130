"""Convert a released QCS / DCS checkpoint (birdwcp/QCS) to an mmfer checkpoint.

    python tools/model_converters/qcs_to_mmfer.py model_best.pth checkpoints/qcs_rafdb_mmfer.pth \
        --dataset rafdb

The file is read with a restricted unpickler: tensors, plain containers, numpy arrays and inert
stand-ins for the training script's ``__main__`` classes (its recorders) — any other pickled
global is refused and nothing in the file is executed. ``module.`` prefixes are stripped.

Default (inference): the base network only — ``backbone.*`` (IR-50, 3 stages), ``neck.*``
(``POSTERBase``) and ``head.fc.*``; 340 entries that load strictly into
``configs/_base_/models/poster_base_ir50.py`` (checked here before writing). Declared drops
(printed): IR-50 output layer, dead ViT submodules, ``VIT_cross``, ``cross_attention_*``,
``fusion``. Any other key is an error (mmfer/utils/converters/qcs.py).

``--dataset`` (what the model was trained on; the file does not say) records the class names in
prediction order and the input settings in ``meta``, as trained mmfer checkpoints carry them;
the class count must match the file's head.

``--training`` also keeps the cross modules as ``cross_neck.csa.{0,1,2}.*``, ``cross_neck.vit.*``
and ``cross_head.fc.*``; that output is verified against ``QCSClassifier`` / ``DCSClassifier`` of
``configs/qcs/{qcs,dcs}_rafdb.py`` (395 entries for QCS) and can resume or fine-tune a
QCS/DCS config through ``load_from``.
"""
import argparse
import os
import os.path as osp
import sys



def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='released QCS/DCS checkpoint (<time>model_best.pth)')
    parser.add_argument('dst', help='output mmfer checkpoint (.pth)')
    parser.add_argument('--dataset', required=True,
                        choices=('rafdb', 'ferplus', 'affectnet7', 'affectnet8'),
                        help='what the model was trained on: fixes the class order in meta')
    parser.add_argument('--training', action='store_true',
                        help='keep the training-only cross modules (QCSClassifier names)')
    return parser.parse_args(argv)


def main(argv=None):
    from mmfer.utils.checkpoint import atomic_torch_save
    from mmfer.utils.converters.qcs import (convert_qcs_checkpoint, restricted_torch_load,
                                            verify_converted)

    args = parse_args(argv)
    out = convert_qcs_checkpoint(restricted_torch_load(args.src), training=args.training,
                                 source=osp.basename(args.src), dataset=args.dataset)
    info = out['meta']['converted_from']
    verify_converted(out['state_dict'], info, training=args.training, source=args.src)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    atomic_torch_save(out, args.dst)  # temporary file + rename: never a partial dst
    print(f'{args.src}: {info["method"]} checkpoint, {info["entries_in"]} entries, '
          f'{info["num_classes"]} classes, IR-50 layout {info["ir_layout"]}; wrote '
          f'{info["entries_out"]} entries to {args.dst} (verified against the mmfer '
          + ('training classifier)' if args.training else 'base network)')
          + f'; classes {out["meta"]["classes"]}')
    for desc, n in info['dropped'].items():
        print(f'  declared drop: {n} entries of {desc}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
