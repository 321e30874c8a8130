"""Print a config fully resolved (``_base_`` inheritance and ``--cfg-options`` applied).

    python tools/analysis/print_config.py CONFIG [--cfg-options key=value ...] [--save out.py]

Uses mmengine's ``Config`` (``custom_imports`` are imported, so a missing plugin module
fails here rather than at training time).
"""
import argparse
import sys
from typing import List, Optional

from mmengine.config import DictAction


def parse_args(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(description='Print the resolved config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_dataloader.batch_size=32')
    parser.add_argument('--save', default=None, help='also write the resolved config here')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None):
    """Run the tool; returns the resolved ``mmengine.Config``."""
    args = parse_args(argv)
    from mmfer.utils.flops import load_config
    cfg = load_config(args.config, args.cfg_options)
    print(f'Config:\n{cfg.pretty_text}')
    if args.save:
        cfg.dump(args.save)
        print(f'wrote {args.save}')
    return cfg


if __name__ == '__main__':
    main(sys.argv[1:])
