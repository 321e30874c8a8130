"""LAN's attention guidance maps G as a training hook (specs/lan.md §1.3, §3.3-3.6).

Before the first epoch the hook extracts the reference features F ∈ ℝ^{D×H×W} of every training
image (the training dataset with the test pipeline: no augmentation), clusters each of the H·W
positions into two clusters (:mod:`mmfer.utils.kmeans`, the minority = attentive) and keeps the
centers. Before every training iteration it sets the data-sample field ``guidance_map`` (H×W,
values {0, 1}) that :class:`~mmfer.models.losses.GuidanceBCELoss` reads: mmengine's
``before_train_iter`` receives the collated ``data_batch`` before ``model.train_step`` runs the
data preprocessor and the loss, so the targets are in the batch when the loss is computed and no
model or loss code knows about the hook.

``guidance_mode`` (§3.4):

- ``'online_reference'`` (default): each (augmented) training batch goes through the data
  preprocessor (``training=False``: normalisation, no batch augments) and the frozen reference
  network; G = nearest-center assignment of its features. G follows any augmentation. Cost: one
  reference forward per training image.
- ``'precomputed'``: G of every training image is computed once from the un-augmented image
  (49 bits per image, kept in the checkpoint) and looked up by ``sample_idx``; a horizontally
  flipped sample (``flip`` / ``flip_direction`` in its metainfo, set by ``RandomFlip``) gets G
  with its columns reversed (§3.6). Other geometric augmentations would contradict it: disable
  them.
- ``'live'``: the model's own backbone (eval mode, no gradient; its train mode is restored)
  assigned against the fixed centers.

``recluster_every`` (epochs, optional) recomputes the centers at the start of every such epoch.

``reference`` (§3.3): ``'pretrained'`` (default) — a frozen copy of the backbone the model
starts from: the backbone part of ``model.pretrained`` when that names a file (rebuilt from it
on resume), otherwise the initialised backbone at ``before_train`` (its weights are then kept in
the checkpoint's meta so that a resumed run uses the same reference); a checkpoint path or
``dict(checkpoint=..., prefix='backbone.')`` — a backbone of the model's architecture loaded
strictly from that file (e.g. a CE-only fine-tuned ResNet-18); ``'live'`` — the model's
backbone at the moment of clustering; ``'aux.<name>'`` — the model's auxiliary network
``<name>`` (``aux_nets``; declare it ``frozen=True, train_only=True`` so inference never runs
it; the classifier then also runs it in its own forward, a second reference forward per image).

The reference network lives in the hook (not in the model's state dict): a checkpoint holds the
model that predicts, plus ``meta['lan_guidance']`` (centers, sizes, attentive indices, map size,
options, and for ``precomputed`` the packed G table). ``after_load_checkpoint`` of a resumed run
restores them, so ``--resume`` never re-clusters; ``tools/test.py`` never calls
``before_train``, so testing never clusters either.

Distributed: the feature extraction is sharded across ranks (rank r takes images r, r + W, ...);
``exact`` gathers the shards on rank 0, ``memmap`` has every rank write its rows into one file in
the work dir, ``minibatch`` streams on rank 0 alone (the others wait); rank 0 clusters and the
centers are broadcast to every rank.
"""
import copy
import os.path as osp
import time
from typing import Optional, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.dataset import pseudo_collate
from mmengine.dist import (barrier, broadcast_object_list, gather_object, get_dist_info,
                           is_main_process)
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmfer.registry import DATASETS, HOOKS
from mmfer.utils import kmeans as km

MODES = ('online_reference', 'precomputed', 'live')
BACKENDS = ('auto', ) + km.BACKENDS
META_KEY = 'lan_guidance'


def shard_indices(num_images: int, rank: int, world_size: int) -> np.ndarray:
    """The images rank ``rank`` extracts: rank, rank + W, rank + 2W, ..."""
    return np.arange(rank, num_images, world_size, dtype=np.int64)


def _replace_pipeline(cfg: dict, pipeline) -> dict:
    """A dataset config with ``pipeline`` replaced at the level that has one (wrappers recurse
    into ``dataset``)."""
    cfg = copy.deepcopy(cfg)
    if 'pipeline' in cfg or 'dataset' not in cfg:
        cfg['pipeline'] = pipeline
    else:
        cfg['dataset'] = _replace_pipeline(cfg['dataset'], pipeline)
    return cfg


def _last_map(out) -> torch.Tensor:
    x = out[-1] if isinstance(out, (tuple, list)) else out
    if x.dim() != 4:
        raise ValueError(f'GuidanceMapHook: the reference network must output N×D×H×W maps '
                         f'(its last output is {tuple(x.shape)})')
    return x


@HOOKS.register_module()
class GuidanceMapHook(Hook):
    """Build the guidance centers before training and set ``guidance_map`` on every training
    batch (see the module docstring).

    Args:
        reference (str | dict): ``'pretrained'`` (default), ``'live'``, ``'aux.<name>'``, a
            checkpoint path or ``dict(checkpoint=..., prefix=...)``.
        guidance_mode (str): ``'online_reference'`` (default), ``'precomputed'`` or ``'live'``.
        kmeans_backend (str): ``'auto'`` (default: ``exact`` when the float32 features fit
            ``memory_budget``, else ``memmap``), ``'exact'``, ``'memmap'`` or ``'minibatch'``.
        memory_budget (int): bytes the ``exact`` features may take (default 4 GiB); ``exact``
            above it raises with the fix.
        seed (int): K-means seed (k-means++ draws per position). Default 0.
        restarts (int): k-means++ restarts per position. Default 10.
        max_iter (int): Lloyd iterations at most. Default 300.
        minibatch_passes (int), minibatch_init (int): ``minibatch`` options.
        recluster_every (int, optional): recompute the centers every this many epochs.
        extract_pipeline (list, optional): pipeline of the extraction pass (default: the
            ``test_dataloader`` pipeline, else ``val_dataloader``'s).
        extract_batch_size (int): batch size of the extraction pass. Default 64.
        extract_num_workers (int): data-loader workers of the extraction pass. Default 0.
        cluster_flipped (bool): cluster the horizontally flipped copy of every training image
            too (2N maps). The centers at a position and at its mirror then come from the same
            features, so with a flip-equivariant reference ``online_reference`` gives
            G(flip x) = flip G(x) (docs/lan.md, flip consistency). Default False (the paper
            clusters the training images as they are).
        memmap_dir (str, optional): folder of the ``memmap`` file (default the work dir).
    """

    priority = 'NORMAL'

    def __init__(self, reference: Union[str, dict] = 'pretrained',
                 guidance_mode: str = 'online_reference', kmeans_backend: str = 'auto',
                 memory_budget: int = 4 * 1024 ** 3, seed: int = 0, restarts: int = 10,
                 max_iter: int = 300, minibatch_passes: int = 3, minibatch_init: int = 512,
                 recluster_every: Optional[int] = None, extract_pipeline: Optional[list] = None,
                 extract_batch_size: int = 64, extract_num_workers: int = 0,
                 cluster_flipped: bool = False, memmap_dir: Optional[str] = None):
        if guidance_mode not in MODES:
            raise ValueError(f'GuidanceMapHook: guidance_mode={guidance_mode!r} is not one of '
                             f'{list(MODES)}')
        if kmeans_backend not in BACKENDS:
            raise ValueError(f'GuidanceMapHook: kmeans_backend={kmeans_backend!r} is not one of '
                             f'{list(BACKENDS)}')
        if not (isinstance(reference, dict) and 'checkpoint' in reference
                or isinstance(reference, str)):
            raise ValueError("GuidanceMapHook: reference must be 'pretrained', 'live', "
                             "'aux.<name>', a checkpoint path or dict(checkpoint=..., prefix=...)"
                             f', got {reference!r}')
        if recluster_every is not None and int(recluster_every) <= 0:
            raise ValueError(f'GuidanceMapHook: recluster_every must be a positive number of '
                             f'epochs or None, got {recluster_every}')
        self.reference = reference
        self.guidance_mode = guidance_mode
        self.kmeans_backend = kmeans_backend
        self.memory_budget = memory_budget
        self.seed = int(seed)
        self.restarts = int(restarts)
        self.max_iter = int(max_iter)
        self.minibatch_passes = int(minibatch_passes)
        self.minibatch_init = int(minibatch_init)
        self.recluster_every = None if recluster_every is None else int(recluster_every)
        self.extract_pipeline = extract_pipeline
        self.extract_batch_size = int(extract_batch_size)
        self.extract_num_workers = int(extract_num_workers)
        self.cluster_flipped = bool(cluster_flipped)
        self.memmap_dir = memmap_dir
        self.centers: Optional[km.GuidanceCenters] = None
        self.table: Optional[np.ndarray] = None  # precomputed G, N×H×W uint8
        self.ref_net: Optional[nn.Module] = None
        self._ref_state = None  # reference weights restored from a resumed checkpoint
        self.num_fits = 0
        self.last_backend: Optional[str] = None
        self.last_estimate: Optional[str] = None

    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def _fixed_reference(self) -> bool:
        return self.reference not in ('live', ) and not str(self.reference).startswith('aux.')

    def build_reference(self, runner) -> nn.Module:
        """The frozen reference network (the model's backbone for ``'live'``)."""
        model = self._model(runner)
        ref = self.reference
        if ref == 'live':
            return model.backbone
        if isinstance(ref, str) and ref.startswith('aux.'):
            name = ref[4:]
            if name not in getattr(model, 'aux_nets', {}):
                raise KeyError(f'GuidanceMapHook: reference={ref!r}, but the model has no '
                               f'auxiliary network {name!r}; declare it in model.aux_nets')
            return model.aux_nets[name]
        from mmfer.utils.checkpoint import load_checkpoint
        net = copy.deepcopy(model.backbone)
        if ref == 'pretrained':
            spec = getattr(model, 'pretrained', None)
            if self._ref_state is not None:
                net.load_state_dict(self._ref_state, strict=True)
            elif spec:
                path, prefix = (spec, 'backbone.') if isinstance(spec, str) else \
                    (spec['checkpoint'], spec.get('prefix', 'backbone.'))
                self._load_part(net, path, prefix, load_checkpoint)
            # else: the initialised backbone as it is now (before the first step)
        else:
            path, prefix = (ref, 'backbone.') if isinstance(ref, str) else \
                (ref['checkpoint'], ref.get('prefix', 'backbone.'))
            self._load_part(net, path, prefix, load_checkpoint)
        net.requires_grad_(False)
        net.eval()  # (mmpretrain's ResNet.train returns None: no chaining)
        return net

    @staticmethod
    def _load_part(net, path, prefix, load_checkpoint):
        def take(sd):
            out = type(sd)((k[len(prefix):], v) for k, v in sd.items() if k.startswith(prefix))
            if not out:
                raise KeyError(f'GuidanceMapHook: {path} has no key starting with {prefix!r}; '
                               "give reference=dict(checkpoint=..., prefix='...') with the "
                               'prefix of the backbone keys in that file')
            return out
        load_checkpoint(net, path, key_map=take, strict=True)

    def reference_maps(self, runner, inputs: torch.Tensor) -> torch.Tensor:
        """N×D×H×W reference features of normalised inputs (no gradient, eval mode)."""
        net = self.ref_net
        was_training = net.training
        net.eval()
        try:
            with torch.no_grad():
                return _last_map(net(inputs))
        finally:
            net.train(was_training)

    def _preprocess(self, runner, data_batch) -> dict:
        return self._model(runner).data_preprocessor(data_batch, False)

    # ------------------------------------------------------------------------------------------
    def _extract_loader(self, runner):
        cfg = runner.cfg
        pipeline = self.extract_pipeline
        if pipeline is None:
            for key in ('test_dataloader', 'val_dataloader'):
                dl = cfg.get(key)
                if dl and dl.get('dataset') is not None:
                    pipeline = _find_pipeline(dl['dataset'])
                    if pipeline is not None:
                        break
        if pipeline is None:
            raise ValueError('GuidanceMapHook: no extraction pipeline; give extract_pipeline='
                             '[...] (the test pipeline: load, resize, pack, no augmentation)')
        ds_cfg = _replace_pipeline(cfg.train_dataloader['dataset'], pipeline)
        dataset = DATASETS.build(ds_cfg)
        rank, world = get_dist_info()
        idx = shard_indices(len(dataset), rank, world)
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(dataset, idx.tolist()), batch_size=self.extract_batch_size,
            shuffle=False, num_workers=self.extract_num_workers, collate_fn=pseudo_collate)
        return dataset, loader

    def _feature_batches(self, runner, loader, flipped_offset: Optional[int] = None):
        """(indices, B×P×D float32 numpy features, map size) per extraction batch; with
        ``flipped_offset`` the horizontally flipped batch follows, at indices + offset."""
        for batch in loader:
            idx = np.array([ds.metainfo['sample_idx'] for ds in batch['data_samples']])
            inputs = self._preprocess(runner, batch)['inputs']
            views = [(idx, inputs)]
            if flipped_offset is not None:
                views.append((idx + flipped_offset, torch.flip(inputs, dims=(-1, ))))
            for vidx, x in views:
                maps = self.reference_maps(runner, x)
                _, _, h, w = maps.shape
                yield vidx, maps.flatten(2).transpose(1, 2).float().cpu().numpy(), (h, w)

    def choose_backend(self, num_images: int, positions: int, channels: int) -> str:
        """The backend a run uses (``auto`` → ``exact`` within the budget, else ``memmap``);
        logs the memory estimate first."""
        self.last_estimate = km.memory_estimate(num_images, positions, channels)
        print_log(f'GuidanceMapHook: {self.last_estimate}', logger='current')
        backend = self.kmeans_backend
        if backend == 'auto':
            need = km.feature_memory_bytes(num_images, positions, channels)
            backend = 'exact' if self.memory_budget is None or need <= self.memory_budget \
                else 'memmap'
        elif backend == 'exact':
            km.check_exact_budget(num_images, positions, channels, self.memory_budget)
        return backend

    def fit(self, runner) -> None:
        """Extract the reference features of the training set and cluster them (rank 0);
        every rank ends with the same centers (and G table for ``precomputed``)."""
        t0 = time.time()
        self.ref_net = self.build_reference(runner)
        dataset, loader = self._extract_loader(runner)
        n = len(dataset)
        flip_off = n if self.cluster_flipped else None
        rows = 2 * n if self.cluster_flipped else n  # feature maps clustered
        rank, world = get_dist_info()
        gen = self._feature_batches(runner, loader, flip_off)
        first = next(gen, None)
        if first is None:
            raise ValueError('GuidanceMapHook: the training set is empty on this rank')
        _, f0, map_size = first
        positions, channels = f0.shape[1:]
        backend = self.choose_backend(rows, positions, channels)
        self.last_backend = backend
        kw = dict(seed=self.seed, restarts=self.restarts, max_iter=self.max_iter,
                  map_size=map_size)
        result = [None]
        if backend == 'minibatch':
            del gen  # rank 0 streams over the whole set alone; the other ranks wait
            if is_main_process():
                full = self._full_loader(runner, dataset)

                def stream():
                    for _, f, _ in self._feature_batches(runner, full, flip_off):
                        yield f
                centers = km.fit_minibatch(stream, passes=self.minibatch_passes,
                                           init_size=self.minibatch_init, **kw)
                table = self._table_from_stream(centers, runner, full, n) \
                    if self.guidance_mode == 'precomputed' else None
                result = [(centers.to_meta(), table)]
        else:
            if backend == 'memmap':
                path = osp.join(self.memmap_dir or runner.work_dir, 'lan_guidance_feats.npy')
                if is_main_process():
                    km.MemmapStore(path, rows, positions, channels).flush()
                barrier()
                store = km.MemmapStore(path, rows, positions, channels, mode='r+')
                store.write(first[0], first[1])
                for idx, f, _ in gen:
                    store.write(idx, f)
                store.flush()
                barrier()
            else:
                parts = [(first[0], first[1])] + [(i, f) for i, f, _ in gen]
                if world > 1:  # every rank's shard to rank 0 (ranks may hold unequal counts)
                    gathered = gather_object(parts, dst=0)
                    parts = [p for rank_parts in gathered for p in rank_parts] \
                        if is_main_process() else []
                if is_main_process():
                    store = km.ExactStore(rows, positions, channels, self.memory_budget)
                    for i, f in parts:
                        store.write(i, f)
            if is_main_process():
                centers = km.fit_store(store, **kw)
                table = self._table_from_store(centers, store, n) \
                    if self.guidance_mode == 'precomputed' else None
                result = [(centers.to_meta(), table)]
        broadcast_object_list(result, src=0)
        meta, table = result[0]
        self.centers = km.GuidanceCenters.from_meta(meta)
        self.table = table
        self.num_fits += 1
        att = (self.centers.attentive >= 0).sum()
        share = self.centers.sizes[np.arange(positions), np.maximum(self.centers.attentive, 0)]
        share = share.sum() / max(rows * positions, 1)
        print_log(f'GuidanceMapHook: {positions} positions clustered ({backend}, {rows} maps, '
                  f'reference {self.reference!r}) in {time.time() - t0:.1f} s; {att} with an '
                  f'attentive cluster, attentive share {share:.3f}',
                  logger='current')

    def _full_loader(self, runner, dataset):
        return torch.utils.data.DataLoader(dataset, batch_size=self.extract_batch_size,
                                           shuffle=False, num_workers=self.extract_num_workers,
                                           collate_fn=pseudo_collate)

    @staticmethod
    def _table_from_store(centers: km.GuidanceCenters, store, n: int) -> np.ndarray:
        """G of the first ``n`` stored maps (the un-flipped training images)."""
        out = np.zeros((n, centers.num_positions), np.uint8)
        for p in range(centers.num_positions):
            x = torch.from_numpy(np.ascontiguousarray(store.position(p)[:n]))[:, None]
            one = km.GuidanceCenters(centers.centers[p:p + 1], centers.sizes[p:p + 1],
                                     centers.attentive[p:p + 1], (1, 1))
            out[:, p] = one.assign(x).reshape(-1).numpy().astype(np.uint8)
        return out.reshape(n, *centers.map_size)

    def _table_from_stream(self, centers, runner, loader, n) -> np.ndarray:
        out = np.zeros((n, *centers.map_size), np.uint8)
        for idx, f, _ in self._feature_batches(runner, loader):
            out[idx] = centers.assign(torch.from_numpy(f)).numpy().astype(np.uint8)
        return out

    # ------------------------------------------------------------------------------------------
    def guidance_for_batch(self, runner, data_batch: dict) -> torch.Tensor:
        """G (N×H×W float) of a collated training batch for the configured mode."""
        samples = data_batch['data_samples']
        if self.guidance_mode == 'precomputed':
            rows = []
            for ds in samples:
                if 'sample_idx' not in ds.metainfo:
                    raise KeyError('GuidanceMapHook (precomputed): a data sample has no '
                                   "sample_idx; keep PackInputs' default meta_keys")
                g = torch.from_numpy(self.table[int(ds.metainfo['sample_idx'])].astype(
                    np.float32))
                if ds.metainfo.get('flip', False):
                    if ds.metainfo.get('flip_direction', 'horizontal') != 'horizontal':
                        raise ValueError('GuidanceMapHook (precomputed): only horizontal flips '
                                         'can be applied to G; use guidance_mode='
                                         "'online_reference' with other flips")
                    g = km.flip_guidance(g)
                rows.append(g)
            return torch.stack(rows)
        inputs = self._preprocess(runner, data_batch)['inputs']
        if inputs.dim() != 4:
            raise ValueError(f'GuidanceMapHook: expected N×3×H×W training inputs, got '
                             f'{tuple(inputs.shape)} (multi-view batches are not supported)')
        if self.guidance_mode == 'live':
            net = self._model(runner).backbone
            was = net.training
            net.eval()
            try:
                with torch.no_grad():
                    maps = _last_map(net(inputs))
            finally:
                net.train(was)
        else:
            maps = self.reference_maps(runner, inputs)
        return self.centers.assign(maps)

    # ------------------------------------------------------------------------------------------
    # mmengine hook points
    def before_train(self, runner) -> None:
        if self.centers is not None and (self.guidance_mode != 'precomputed'
                                         or self.table is not None):
            print_log('GuidanceMapHook: centers restored from the checkpoint; not '
                      're-clustering', logger='current')
            if self.ref_net is None:
                self.ref_net = self.build_reference(runner)
            return
        self.fit(runner)

    def before_train_epoch(self, runner) -> None:
        if self.recluster_every and runner.epoch > 0 and runner.epoch % self.recluster_every == 0:
            print_log(f'GuidanceMapHook: re-clustering at epoch {runner.epoch} '
                      f'(recluster_every={self.recluster_every})', logger='current')
            self.ref_net = None
            self.fit(runner)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if data_batch is None:
            return
        g = self.guidance_for_batch(runner, data_batch).cpu()
        for ds, gi in zip(data_batch['data_samples'], g):
            ds.set_field(gi, 'guidance_map')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.centers is None:
            return
        entry = dict(self.centers.to_meta(), guidance_mode=self.guidance_mode,
                     reference=self.reference, seed=self.seed, backend=self.last_backend)
        if self.table is not None:
            entry['table'] = torch.from_numpy(np.packbits(self.table.reshape(len(self.table),
                                                                             -1), axis=1))
            entry['table_shape'] = list(self.table.shape)
        model = self._model(runner)
        if self.reference == 'pretrained' and not getattr(model, 'pretrained', None) \
                and self.ref_net is not None:
            entry['reference_state'] = {k: v.detach().cpu().clone()
                                        for k, v in self.ref_net.state_dict().items()}
        checkpoint.setdefault('meta', {})[META_KEY] = entry

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False) and not getattr(runner, '_mmfer_resuming',
                                                                 False):
            return  # load_from (fine-tuning / testing): centers are rebuilt for this run
        entry = (checkpoint.get('meta') or {}).get(META_KEY)
        if entry is None:
            return
        self.centers = km.GuidanceCenters.from_meta(entry)
        if 'table' in entry:
            shape = entry['table_shape']
            bits = np.unpackbits(entry['table'].numpy(), axis=1)[:, :shape[1] * shape[2]]
            self.table = bits.reshape(shape).astype(np.uint8)
        if 'reference_state' in entry:
            self._ref_state = entry['reference_state']
        self.ref_net = None
        print_log(f'GuidanceMapHook: {self.centers.num_positions} guidance centers loaded from '
                  'the checkpoint', logger='current')


def _find_pipeline(ds_cfg):
    if 'pipeline' in ds_cfg:
        return ds_cfg['pipeline']
    if 'dataset' in ds_cfg:
        return _find_pipeline(ds_cfg['dataset'])
    return None


__all__ = ['GuidanceMapHook', 'shard_indices']
