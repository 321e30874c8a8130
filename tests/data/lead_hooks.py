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
    """Every rank saves its final weights, to compare ranks after distributed training."""

    def after_run(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        torch.save(model.state_dict(), osp.join(runner.work_dir, f'rank{runner.rank}.pth'))
