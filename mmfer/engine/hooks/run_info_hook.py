"""RunInfoHook: record what reproduces a number, check class counts, keep RNG state."""
import json
import os
import os.path as osp
import platform
import random
import subprocess
from collections import OrderedDict

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.utils.dl_utils import collect_env

from mmfer.registry import HOOKS


def git_hash(path: str) -> str:
    """``<sha>`` or ``<sha>+dirty`` of the repository holding ``path``, or ``'unknown'``."""
    try:
        sha = subprocess.check_output(['git', 'rev-parse', 'HEAD'], cwd=path,
                                      stderr=subprocess.DEVNULL, text=True).strip()
        dirty = subprocess.check_output(['git', 'status', '--porcelain', '--untracked-files=no'],
                                        cwd=path, stderr=subprocess.DEVNULL, text=True).strip()
        return sha + ('+dirty' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def cpu_env() -> dict:
    """What of the CPU moves a number: its model, the cores and threads, the kernel width PyTorch
    dispatches to (``DEFAULT`` / ``AVX2`` / ``AVX512``: oneDNN's AVX-512 and AVX2 kernels round
    logits a few float32 ulps apart) and whether bf16 / fp16 are native (docs/performance.md).
    """
    from mmfer.utils.performance import cpu_has_native_bf16, cpu_has_native_fp16
    name = platform.processor() or 'unknown'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    name = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return OrderedDict([
        ('CPU', name), ('CPU cores (os.cpu_count)', os.cpu_count()),
        ('torch threads', torch.get_num_threads()),
        ('CPU capability', torch.backends.cpu.get_cpu_capability()),
        ('CPU native bf16 (oneDNN)', cpu_has_native_bf16()),
        ('CPU native fp16 (oneDNN)', cpu_has_native_fp16())])


def dataset_summary(dataset) -> dict:
    """Class order and per-class sample counts of a dataset (wrappers pass through)."""
    classes = list(dataset.metainfo.get('classes', []))
    labels = np.asarray(dataset.get_gt_labels(), dtype=np.int64)
    counts = np.bincount(labels, minlength=len(classes)) if labels.size else np.zeros(
        len(classes), np.int64)
    return OrderedDict(type=type(dataset).__name__, num_samples=int(labels.size),
                       classes=classes,
                       counts=OrderedDict((c, int(n)) for c, n in zip(classes, counts)))


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def _input_settings(cfg) -> dict:
    """Normalisation and test pipeline: what inference needs to reproduce the inputs."""
    # the model's own, else the top-level one (the Runner merges it into the model the same way)
    pre = dict(cfg.model.get('data_preprocessor', None) or cfg.get('data_preprocessor') or {})
    test = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    pipeline = test.get('dataset', {}).get('pipeline', []) if test else []
    return dict(mean=pre.get('mean'), std=pre.get('std'), to_rgb=pre.get('to_rgb'),
                test_pipeline=[dict(t) for t in pipeline])


@HOOKS.register_module()
class RunInfoHook(Hook):
    """Makes every work dir and checkpoint self-describing.

    - ``before_train`` / ``before_test`` (the data loaders exist by then): checks that the
      head's ``num_classes`` equals the number of classes of every dataset (raises with the
      fix), and writes ``<work_dir>/run_info.json`` with the seed, git hash, environment, and
      per split the class order and per-class counts (mmengine already dumps the resolved
      config next to it).
    - ``before_save_checkpoint``: adds ``meta['classes']`` and ``meta['input_cfg']``
      (normalisation + test pipeline) and the Python / numpy / torch RNG states, so that
      ``--resume`` continues with the same random stream.
    - ``after_load_checkpoint``: restores those RNG states when resuming.

    It is a ``default_hooks`` entry (``run_info``) of ``configs/_base_/default_runtime.py``, so
    a config that sets its own ``custom_hooks`` (e.g. ``[dict(type='EMAHook')]``) keeps it.
    Listed a second time (e.g. in an older config's ``custom_hooks``), the later instance logs
    a WARNING in ``before_run`` and does nothing, so records are written once.
    """
    priority = 'VERY_LOW'

    def __init__(self, restore_rng: bool = True):
        self.restore_rng = restore_rng
        self.duplicate = False

    def before_run(self, runner) -> None:
        first = next(h for h in runner.hooks if isinstance(h, RunInfoHook))
        self.duplicate = first is not self
        if self.duplicate:
            runner.logger.warning(
                'RunInfoHook is registered twice: it is a default hook '
                '(default_hooks.run_info in configs/_base_/default_runtime.py); remove '
                "dict(type='RunInfoHook') from custom_hooks. The second instance is ignored.")

    def _splits(self, runner):
        out = OrderedDict()
        for split in ('train', 'val', 'test'):
            # loops own the built data loaders; an unbuilt loop is still a config dict
            loop = getattr(runner, f'_{split}_loop', None)
            loader = getattr(loop, 'dataloader', None)
            if isinstance(loader, torch.utils.data.DataLoader):
                out[split] = loader.dataset
        return out

    def before_train(self, runner) -> None:
        if not self.duplicate:
            self._record(runner)

    def before_test(self, runner) -> None:
        if not self.duplicate:
            self._record(runner)

    def _record(self, runner) -> None:
        model = _unwrap(runner.model)
        head = getattr(model, 'head', None)
        num_classes = getattr(head, 'num_classes', None)
        info = OrderedDict(seed=runner.seed, git=git_hash(osp.dirname(osp.abspath(__file__))),
                           experiment=runner.experiment_name, splits=OrderedDict())
        for split, dataset in self._splits(runner).items():
            classes = dataset.metainfo.get('classes')
            if num_classes is not None and classes is not None and len(classes) != num_classes:
                raise ValueError(
                    f'the model head has num_classes={num_classes} but the {split} dataset '
                    f'({type(dataset).__name__}) has {len(classes)} classes {list(classes)}. '
                    f'Set model.head.num_classes={len(classes)} (and '
                    f'model.data_preprocessor.num_classes) in the config, or pick the '
                    f'dataset variant with {num_classes} classes.')
            if hasattr(dataset, 'get_gt_labels'):
                info['splits'][split] = dataset_summary(dataset)
                runner.logger.info(f'{split} split: {info["splits"][split]["num_samples"]} '
                                   f'samples, per class {dict(info["splits"][split]["counts"])}')
            else:
                info['splits'][split] = dict(type=type(dataset).__name__,
                                             classes=list(classes or []),
                                             counts='unavailable (no get_gt_labels)')
                runner.logger.warning(f'{split} dataset {type(dataset).__name__} has no '
                                      'get_gt_labels(); per-class counts not recorded')
        env = collect_env()
        env.update(cpu_env())
        info['env'] = OrderedDict((k, str(v)) for k, v in env.items())
        if runner.rank == 0:
            with open(osp.join(runner.work_dir, 'run_info.json'), 'w') as f:
                json.dump(info, f, indent=2)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.duplicate:
            return
        meta = checkpoint.setdefault('meta', {})
        dataset_meta = meta.get('dataset_meta') or {}
        if 'classes' in dataset_meta:
            meta['classes'] = list(dataset_meta['classes'])
        meta['input_cfg'] = _input_settings(runner.cfg)
        # plain ints / floats / tensors only, so the checkpoint stays weights_only-loadable
        py_version, py_keys, py_gauss = random.getstate()
        _, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state()
        checkpoint['rng_state'] = dict(
            python=dict(version=py_version, keys=list(py_keys), gauss=py_gauss),
            numpy=dict(keys=torch.from_numpy(np_keys.astype(np.int64)), pos=int(np_pos),
                       has_gauss=int(np_has_gauss), cached=float(np_cached)),
            torch=torch.get_rng_state())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('rng_state')
        if self.duplicate or not (self.restore_rng and state
                                  and getattr(runner, '_resume', False)):
            return
        py, nps = state['python'], state['numpy']
        random.setstate((py['version'], tuple(py['keys']), py['gauss']))
        np.random.set_state(('MT19937', nps['keys'].numpy().astype(np.uint32), nps['pos'],
                             nps['has_gauss'], nps['cached']))
        torch.set_rng_state(state['torch'])
        runner.logger.info('restored Python / numpy / torch RNG states from the checkpoint')
