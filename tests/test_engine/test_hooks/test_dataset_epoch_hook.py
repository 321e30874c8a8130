"""DatasetEpochHook: ``set_epoch(runner.epoch)`` reaches the epoch-dependent dataset of the train
loader (here a QuadrupletDataset, whose partner draws depend on the epoch), and a chain without
``set_epoch`` is a configuration error (moved from tests/test_datasets/test_quadruplet.py)."""
from types import SimpleNamespace

import numpy as np
import pytest
from mmpretrain.datasets import BaseDataset

from mmfer.datasets.quadruplet import QuadrupletDataset
from mmfer.registry import HOOKS


class ToyFER(BaseDataset):
    """Twelve 2×2 images of three classes (4 each); image i is filled with the value i."""

    METAINFO = dict(classes=('a', 'b', 'c'))

    def __init__(self):
        super().__init__(ann_file='', pipeline=[], serialize_data=False)

    def load_data_list(self):
        return [dict(img=np.full((2, 2, 3), i, np.uint8), gt_label=i % 3) for i in range(12)]


def runner_for(dataset, epoch):
    return SimpleNamespace(epoch=epoch, train_loop=SimpleNamespace(
        dataloader=SimpleNamespace(dataset=dataset)))


def test_dataset_epoch_hook():
    qd = QuadrupletDataset(ToyFER(), num_branches=4, seed=0)
    hook = HOOKS.build(dict(type='DatasetEpochHook'))
    assert qd.epoch == 0
    hook.before_train_epoch(runner_for(qd, 5))
    assert qd.epoch == 5
    # the draws the loader sees are those of epoch 5
    assert [qd.draw(i) for i in range(12)] == [qd.draw(i, 5) for i in range(12)]
    assert [qd.draw(i) for i in range(12)] != [qd.draw(i, 0) for i in range(12)]
    with pytest.raises(TypeError, match='set_epoch'):
        hook.before_train_epoch(runner_for(qd.dataset, 0))


def test_dataset_epoch_hook_reaches_a_wrapped_dataset():
    """The hook walks the ``.dataset`` chain: a wrapper without set_epoch around the quadruplet
    dataset still gets its inner dataset's epoch set."""
    qd = QuadrupletDataset(ToyFER(), num_branches=2, seed=0)
    outer = SimpleNamespace(dataset=qd)
    HOOKS.build(dict(type='DatasetEpochHook')).before_train_epoch(runner_for(outer, 7))
    assert qd.epoch == 7
