"""A tiny in-process training job for the hook tests: SynthFER faces rendered at 32 px, a
ResNet-18 with 8 base channels (BatchNorm everywhere), the runtime of default_runtime.py."""
import glob
import os.path as osp
import uuid

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
TINY = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')


def tiny_cfg(work_dir, num_samples=16, batch_size=8, max_epochs=1, lr=0.01, val=False,
             **overrides) -> Config:
    """tiny_synthfer.py with ``num_samples`` training faces, no validation by default, and a
    unique experiment name (mmengine's loggers are global by name)."""
    cfg = Config.fromfile(TINY)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'hooktest_{uuid.uuid4().hex[:8]}'
    cfg.train_dataloader.dataset.num_samples = num_samples
    cfg.train_dataloader.batch_size = batch_size
    cfg.train_cfg.max_epochs = max_epochs
    cfg.optim_wrapper.optimizer.lr = lr
    cfg.param_scheduler = None
    cfg.default_hooks.logger.interval = 1
    if not val:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        cfg.default_hooks.checkpoint.save_best = None
    cfg.merge_from_dict(overrides)
    return cfg


def log_text(work_dir) -> str:
    """Everything the runner logged to its log file."""
    files = glob.glob(osp.join(str(work_dir), '*', '*.log'))
    assert files, f'no log file under {work_dir}'
    return ''.join(open(f).read() for f in files)


@pytest.fixture(name='tiny_cfg')
def tiny_cfg_fixture():
    """:func:`tiny_cfg` (tests import it through this fixture: importlib mode)."""
    return tiny_cfg


@pytest.fixture(name='log_text')
def log_text_fixture():
    """:func:`log_text`."""
    return log_text
