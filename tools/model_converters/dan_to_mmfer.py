"""Convert a released DAN checkpoint (yaoing/DAN) into an mmfer checkpoint.

    python tools/model_converters/dan_to_mmfer.py rafdb_epoch21_acc0.897_bacc0.8532.pth \
        checkpoints/dan_r18_rafdb_official.pth --dataset rafdb

Input: ``{'iter', 'model_state_dict', 'optimizer_state_dict'}`` (a bare state dict also works).
Output: ``{'state_dict': <mmfer names>, 'meta': {classes, dataset_meta, input_cfg,
converted_from}}``. Every official key is renamed (mmfer/utils/converters/dan.py); an unknown or
missing key, or a shape that does not fit the mmfer model built from the dataset's DAN config
(with the file's number of classes and heads), is an error. The optimizer state is dropped; the
affinity centers are not in the released files (loaders skip ``head.losses.*``).
"""
import argparse
import os
import os.path as osp
import sys


REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    from mmfer.utils.converters.dan import DAN_DATASETS
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official DAN checkpoint (.pth)')
    parser.add_argument('dst', help='output mmfer checkpoint (.pth)')
    parser.add_argument('--dataset', required=True, choices=sorted(DAN_DATASETS),
                        help='what the model was trained on: fixes the class order in meta')
    parser.add_argument('--config', default=None,
                        help='mmfer DAN config to check the result against (default: '
                             'configs/dan/dan_r18_<dataset>.py)')
    return parser.parse_args(argv)


def main(argv=None):
    from mmfer.utils.checkpoint import atomic_torch_save
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmfer  # noqa: F401  (registers the plugins)
    from mmfer.apis import build_model
    from mmfer.utils.checkpoint import extract_state_dict, safe_torch_load, strip_prefix
    from mmfer.utils.converters.dan import (DAN_DATASETS, convert_dan_checkpoint,
                                            infer_dan_layout)

    args = parse_args(argv)
    ckpt = safe_torch_load(args.src)
    num_classes, num_heads = infer_dan_layout(strip_prefix(extract_state_dict(ckpt)))
    config = args.config or osp.join(REPO, DAN_DATASETS[args.dataset][2])
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmfer'))
    cfg.model.head.num_classes = num_classes
    cfg.model.neck.num_heads = num_heads
    model = build_model(cfg)
    out = convert_dan_checkpoint(ckpt, args.dataset, model=model, source=args.src)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    atomic_torch_save(out, args.dst)  # temporary file + rename: never a partial dst
    print(f'converted {len(out["state_dict"])} entries ({num_classes} classes, {num_heads} '
          f'heads, classes {out["meta"]["classes"]}) from {args.src} to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
