"""Hooks used only by the tool tests (imported with custom_imports)."""
import os.path as osp

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmfer.registry import HOOKS


@HOOKS.register_module()
class InterruptAfterEpochHook(Hook):
    """Simulates a crash: raises after the checkpoint of epoch ``epoch`` has been written."""
    priority = 'LOWEST'

    def __init__(self, epoch: int):
        self.epoch = epoch

    def after_train_epoch(self, runner):
        if runner.epoch + 1 >= self.epoch:
            raise KeyboardInterrupt(f'simulated interruption after epoch {self.epoch}')


@HOOKS.register_module()
class DumpRankWeightsHook(Hook):
    """Every rank saves its final parameters and buffers, to compare ranks after training.

    DDP keeps the parameters identical across ranks; BatchNorm running statistics are
    buffers, which mmengine's DDP does not broadcast (``broadcast_buffers=False``), so each
    rank keeps the statistics of its own shard (use ``sync_bn`` to share them).
    """

    def after_run(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        torch.save(dict(params={k: v.detach() for k, v in model.named_parameters()},
                        buffers={k: v for k, v in model.named_buffers()}),
                   osp.join(runner.work_dir, f'rank{runner.rank}.pth'))
