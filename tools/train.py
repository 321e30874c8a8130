"""Train a model from an mmfer config (OpenMMLab-style arguments).

    python tools/train.py configs/baseline/r18_synthfer.py [--work-dir DIR] [--resume [CKPT]]
        [--amp [{bf16,fp16}]] [--compile [MODE]] [--channels-last | --no-channels-last]
        [--auto-scale-lr] [--cfg-options k=v ...] [--launcher none|pytorch|slurm]

Performance switches (config keys ``amp`` / ``compile`` / ``channels_last``, see
docs/performance.md and :mod:`mmfer.utils.performance`): ``--amp bf16`` trains under bf16
autocast on CPU or GPU (``FERAmpOptimWrapper``, SAM configs its SAM variant), ``--amp fp16``
under fp16 with a dynamic loss scaler (GPU, or a CPU with native fp16); a bare ``--amp`` (the
old flag) means fp16 on a GPU and bf16 on a CPU. ``--compile`` compiles the train / val steps (first-call time logged).
channels_last is on by default (``default_runtime.py``); ``--no-channels-last`` keeps NCHW.
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction

import mmfer  # noqa: F401  (registers plugins and the safe checkpoint globals)
from mmfer.utils.dist import setup_cpu_distributed
from mmfer.utils.performance import (add_performance_args, apply_performance_cfg,
                                     performance_options)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train an mmfer model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint in the work dir '
                        'when no path is given')
    add_performance_args(parser, train=True)
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by total batch size / auto_scale_lr.base_batch_size')
    parser.add_argument('--seed', type=int, help='random seed (overrides randomness.seed)')
    parser.add_argument('--deterministic', action='store_true',
                        help='deterministic algorithms (slower)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.neck.num_heads=2')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    # --amp: FERAmpOptimWrapper (SAM configs: SAMFERAmpOptimWrapper, SAM's two passes kept)
    apply_performance_cfg(cfg, **performance_options(args))
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.seed is not None:
        cfg.randomness = dict(cfg.get('randomness', {}), seed=args.seed)
    if args.deterministic:
        cfg.randomness = dict(cfg.get('randomness', {}), deterministic=True)
    return setup_cpu_distributed(cfg, args.launcher)


def build_runner(cfg):
    """The runner of ``cfg``: ``runner_type`` from ``mmfer.registry.RUNNERS`` when the config
    names one, else :class:`mmfer.engine.runner.FERRunner` (strict ``load_from`` /
    ``--resume``; mmengine's ``Runner`` loads those with ``strict=False``)."""
    from mmfer.engine.runner import FERRunner
    from mmfer.registry import RUNNERS
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return FERRunner.from_cfg(cfg)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    cfg = merge_args(Config.fromfile(args.config), args)
    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
