"""Evaluate a checkpoint and print the FER metrics as a table.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out preds.pkl]
        [--amp [{bf16,fp16}]] [--compile [MODE]] [--channels-last | --no-channels-last]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm]

``--amp bf16`` runs the test under bf16 autocast (CPU or GPU; fp16 on a GPU or a CPU with
native fp16), the scores cast back to float32; ``--compile`` compiles ``test_step`` (first-call time logged);
channels_last is on by default (``--no-channels-last`` keeps NCHW). See docs/performance.md.

Writes ``<work_dir>/metrics.json`` and ``<work_dir>/confusion_matrix.png``.  The checkpoint is
loaded strictly through :func:`mmfer.utils.checkpoint.load_checkpoint`; its class names must
equal the test dataset's (mapping indices to the wrong names is the commonest FER error).
"""
import argparse
import json
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.model import is_model_wrapper

import mmfer  # noqa: F401
from mmfer.utils.checkpoint import LOSS_STATE_KEYS, load_checkpoint, safe_torch_load
from mmfer.utils.dist import setup_cpu_distributed
from mmfer.utils.finite import check_finite_weights
from mmfer.utils.performance import (add_performance_args, apply_performance_cfg,
                                     performance_options)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test an mmfer model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for the metrics, logs and figures')
    parser.add_argument('--out', help='dump the predictions (pred_score, pred_label, '
                        'gt_label per sample) to this pickle file')
    parser.add_argument('--no-figure', action='store_true', help='skip the confusion matrix PNG')
    add_performance_args(parser)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def format_table(metrics: dict) -> str:
    """Two-column text table of the scalar metrics (percent)."""
    rows = [(k, f'{float(v):.2f}') for k, v in metrics.items()
            if not isinstance(v, torch.Tensor) or v.numel() == 1]
    width = max(len(k) for k, _ in rows) if rows else 10
    sep = '+' + '-' * (width + 2) + '+' + '-' * 10 + '+'
    lines = [sep, f'| {"metric".ljust(width)} | {"value":>8} |', sep]
    lines += [f'| {k.ljust(width)} | {v:>8} |' for k, v in rows]
    lines.append(sep)
    return '\n'.join(lines)


def check_classes(ckpt: dict, dataset_classes, ckpt_path: str) -> None:
    meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
    classes = meta.get('classes') or (meta.get('dataset_meta') or {}).get('classes')
    if classes is None or dataset_classes is None:
        return
    if list(classes) != list(dataset_classes):
        raise ValueError(
            f'{ckpt_path} was trained with classes {list(classes)} but the test dataset has '
            f'{list(dataset_classes)}. Remap the dataset to the checkpoint order with the '
            f"dataset's `classes` option (see docs/dataset_prepare.md).")


def build_runner(cfg):
    """``runner_type`` from ``mmfer.registry.RUNNERS`` when the config names one, else
    :class:`mmfer.engine.runner.FERRunner` (as tools/train.py)."""
    from mmfer.engine.runner import FERRunner
    from mmfer.registry import RUNNERS
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return FERRunner.from_cfg(cfg)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = None  # loaded below, strictly
    apply_performance_cfg(cfg, train=False, **performance_options(args))
    setup_cpu_distributed(cfg, args.launcher)
    if args.out:
        cfg.test_evaluator = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) \
            else [cfg.test_evaluator]
        cfg.test_evaluator.append(dict(type='DumpResults', out_file_path=args.out))

    # read first (weights-only, mmfer's allow-list): a refused or damaged file fails before the
    # datasets are built
    ckpt = safe_torch_load(args.checkpoint)
    # FERRunner (runner_type of default_runtime.py): channels_last, compile and amp of the test
    # step, loaders sized to the machine
    runner = build_runner(cfg)
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    # loss state (e.g. DAN's affinity centers) is not needed to predict
    load_checkpoint(model, ckpt, ignore_missing=[LOSS_STATE_KEYS], source=args.checkpoint)
    check_finite_weights(model, args.checkpoint)  # NaN weights would score a constant class
    runner._test_loop = runner.build_test_loop(runner._test_loop)
    check_classes(ckpt, runner.test_dataloader.dataset.metainfo.get('classes'),
                  args.checkpoint)
    metrics = runner.test()

    if runner.rank == 0:
        runner.logger.info('\n' + format_table(metrics))
        scalars = {k: float(v) for k, v in metrics.items()
                   if not isinstance(v, torch.Tensor) or v.numel() == 1}
        cm_key = next((k for k in metrics if k.endswith('confusion_matrix')), None)
        out = dict(config=args.config, checkpoint=args.checkpoint, metrics=scalars)
        classes = runner.test_dataloader.dataset.metainfo.get('classes')
        if cm_key is not None:
            out['confusion_matrix'] = metrics[cm_key].tolist()
            out['classes'] = list(classes) if classes else None
            if not args.no_figure:
                from mmfer.visualization.confusion_matrix import plot_confusion_matrix
                png = osp.join(runner.work_dir, 'confusion_matrix.png')
                plot_confusion_matrix(metrics[cm_key].numpy(), list(classes), png)
                runner.logger.info(f'confusion matrix figure: {png}')
        with open(osp.join(runner.work_dir, 'metrics.json'), 'w') as f:
            json.dump(out, f, indent=2)
        runner.logger.info(f'metrics written to {osp.join(runner.work_dir, "metrics.json")}')
    return metrics


if __name__ == '__main__':
    main()
