"""Per-position K = 2 K-means of LAN's attention guidance map (specs/lan.md §1.3, §3.5).

For the backbone maps F^n ∈ ℝ^{D×H×W} of N training images and each of the P = H·W positions p,
the N vectors f_p^n ∈ ℝ^D are clustered into two clusters (Euclidean, not L2-normalised,
k-means++ initialisation, ``restarts`` runs, the one of lowest inertia kept; Lloyd iterations
until the assignments stop changing). The **minority** cluster is the attentive one (Eq. 4); on
equal sizes, the cluster whose center is farther from the mean of all features at p (then
cluster 1, Eq. 4's π_p^2). A position whose features do not split into two non-empty clusters
(all equal) has no attentive cluster: G(p) = 0 for every input, with a warning.

G(p) for a new feature map = 1 iff f_p is nearer (strictly) to the attentive center than to the
other one.

Backends (how the N×P×D features are held):

- ``exact``: float32 in memory (N·P·D·4 bytes; refused above ``memory_budget`` with the fix);
- ``memmap``: a float16 memory-mapped file, position-major (P×N×D, so one position is one
  contiguous N×D block), clustered one position at a time (N·D·4 bytes in memory). On features
  that float16 represents exactly it gives bit for bit the result of ``exact``; otherwise the
  features are rounded to float16 (relative error ≤ 2⁻¹¹) first;
- ``minibatch``: streaming mini-batch K-means (k-means++ on the first ``init_size`` images, then
  ``passes`` passes of running-mean updates over the stream, each pass restarting the counts,
  and a last pass that counts the cluster sizes and the mean): memory O(P·2·D + one batch +
  init_size·P·D), independent of N; approximate.

Everything is numpy on the CPU and deterministic given (seed, features): position p draws from
``np.random.default_rng([seed, p])``; sums and distances are accumulated in float64 by chunks.
"""
import math
import os
import warnings
from typing import Callable, Iterable, Iterator, Optional, Sequence, Tuple

import numpy as np
import torch

BACKENDS = ('exact', 'memmap', 'minibatch')
_CHUNK = 65536  # rows per float64 chunk (65,536 × 512 × 8 B = 256 MiB at most)


def feature_memory_bytes(num_images: int, positions: int = 49, channels: int = 512,
                         itemsize: int = 4) -> int:
    """Bytes of the features of ``num_images`` maps: N × P × D × itemsize (RAF-DB, 12,271 ×
    49 × 512 × 4 = 1,231,419,392)."""
    return int(num_images) * int(positions) * int(channels) * int(itemsize)


def memory_estimate(num_images: int, positions: int = 49, channels: int = 512) -> str:
    """One line stating what each backend holds, e.g. for the hook's log."""
    full = feature_memory_bytes(num_images, positions, channels, 4)
    half = feature_memory_bytes(num_images, positions, channels, 2)
    per = feature_memory_bytes(num_images, 1, channels, 4)
    return (f'guidance features: {num_images:,} images × {positions} positions × {channels} '
            f'channels × 4 bytes = {full:,} bytes (exact, in memory); memmap: {half:,} bytes '
            f'float16 on disk, {per:,} bytes per position in memory; minibatch: '
            f'{positions * 2 * channels * 8:,} bytes of centers + one batch')


def check_exact_budget(num_images: int, positions: int, channels: int,
                       memory_budget: Optional[int]) -> int:
    """The exact backend's bytes; raises ``MemoryError`` naming the fix above the budget."""
    need = feature_memory_bytes(num_images, positions, channels, 4)
    if memory_budget is not None and need > memory_budget:
        raise MemoryError(
            f'kmeans_backend="exact" needs {need:,} bytes for {num_images:,} images × '
            f'{positions} × {channels} float32 features, above memory_budget={memory_budget:,}. '
            f'Fix: kmeans_backend="memmap" (a {need // 2:,}-byte float16 file in the work dir, '
            f'{need // positions:,} bytes in memory at a time), kmeans_backend="minibatch" '
            '(streaming, approximate), or raise memory_budget')
    return need


# ----------------------------------------------------------------------------------------------
# one position
def _sq_norms(x: np.ndarray) -> np.ndarray:
    out = np.empty(len(x), np.float64)
    for s in range(0, len(x), _CHUNK):
        c = x[s:s + _CHUNK].astype(np.float64)
        out[s:s + _CHUNK] = np.einsum('ij,ij->i', c, c)
    return out


def _distances(x: np.ndarray, n2: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """N×K squared Euclidean distances (float64)."""
    c2 = np.einsum('kd,kd->k', centers, centers)
    out = np.empty((len(x), len(centers)), np.float64)
    for s in range(0, len(x), _CHUNK):
        out[s:s + _CHUNK] = n2[s:s + _CHUNK, None] - 2 * (
            x[s:s + _CHUNK].astype(np.float64) @ centers.T) + c2[None]
    return np.maximum(out, 0.0, out=out)


def _means(x: np.ndarray, labels: np.ndarray, k: int = 2) -> Tuple[np.ndarray, np.ndarray]:
    sums = np.zeros((k, x.shape[1]), np.float64)
    counts = np.bincount(labels, minlength=k).astype(np.int64)
    for s in range(0, len(x), _CHUNK):
        c = x[s:s + _CHUNK].astype(np.float64)
        lab = labels[s:s + _CHUNK]
        for j in range(k):
            sums[j] += c[lab == j].sum(axis=0)
    return sums, counts


def _kmeanspp(x: np.ndarray, n2: np.ndarray, rng: np.random.Generator) -> Optional[np.ndarray]:
    """Two k-means++ seeds (2×D float64), or None when every feature is the same."""
    first = x[int(rng.integers(len(x)))].astype(np.float64)
    d = _distances(x, n2, first[None])[:, 0]
    total = d.sum()
    if not total > 0:
        return None
    second = x[int(rng.choice(len(x), p=d / total))].astype(np.float64)
    return np.stack([first, second])


def _lloyd(x, n2, centers, max_iter):
    labels = None
    for it in range(max_iter):
        new = np.argmin(_distances(x, n2, centers), axis=1)  # tie → cluster 0
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        sums, counts = _means(x, labels)
        if (counts == 0).any():
            return None, None, None, it
        centers = sums / counts[:, None]
    d = _distances(x, n2, centers)
    return centers, labels, float(d[np.arange(len(x)), labels].sum()), it


def attentive_cluster(centers: np.ndarray, sizes: np.ndarray, mean: np.ndarray) -> int:
    """Eq. 4: the minority cluster; on a tie the center farther from the mean of all features at
    p (then cluster 1)."""
    if sizes[0] != sizes[1]:
        return int(np.argmin(sizes))
    d = ((np.asarray(centers, np.float64) - mean[None]) ** 2).sum(axis=1)
    return 0 if d[0] > d[1] else 1


def cluster_position(x: np.ndarray, seed: int, position: int = 0, restarts: int = 10,
                     max_iter: int = 300) -> Tuple[np.ndarray, np.ndarray, int]:
    """K = 2 K-means of the N×D features of one position.

    Returns (centers 2×D float64, sizes (2,) int64, attentive index or −1 for a degenerate
    position)."""
    x = np.asarray(x)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f'cluster_position: need an N×D array with N ≥ 2, got {x.shape}')
    rng = np.random.default_rng([int(seed), int(position)])
    n2 = _sq_norms(x)
    best = None
    for _ in range(max(1, int(restarts))):
        init = _kmeanspp(x, n2, rng)
        if init is None:
            break
        centers, labels, inertia, iters = _lloyd(x, n2, init, max_iter)
        if centers is None:
            continue
        if iters == max_iter - 1:
            warnings.warn(f'K-means at position {position}: no convergence in {max_iter} '
                          'iterations; the last assignment is kept')
        if best is None or inertia < best[2]:  # first of equal inertias kept
            best = (centers, labels, inertia)
    if best is None:
        warnings.warn(f'K-means at position {position}: the features do not split into two '
                      'non-empty clusters (all equal); G = 0 at this position for every input')
        return (np.repeat(x[:1].astype(np.float64), 2, axis=0), np.array([len(x), 0]), -1)
    centers, labels, _ = best
    sizes = np.bincount(labels, minlength=2).astype(np.int64)
    mean = _means(x, np.zeros(len(x), np.int64), 1)[0][0] / len(x)
    return centers, sizes, attentive_cluster(centers, sizes, mean)


# ----------------------------------------------------------------------------------------------
class GuidanceCenters:
    """Centers (P×2×D), cluster sizes (P×2) and attentive index per position (P,; −1: none) of
    a fitted guidance clustering; ``assign`` turns feature maps into guidance maps."""

    def __init__(self, centers, sizes, attentive, map_size: Optional[Sequence[int]] = None):
        self.centers = np.asarray(centers, np.float32)
        self.sizes = np.asarray(sizes, np.int64)
        self.attentive = np.asarray(attentive, np.int64)
        p = self.centers.shape[0]
        if self.centers.ndim != 3 or self.centers.shape[1] != 2 or self.sizes.shape != (p, 2) \
                or self.attentive.shape != (p, ):
            raise ValueError(f'GuidanceCenters: inconsistent shapes centers '
                             f'{self.centers.shape}, sizes {self.sizes.shape}, attentive '
                             f'{self.attentive.shape}')
        if map_size is None:
            side = int(round(math.sqrt(p)))
            map_size = (side, side) if side * side == p else (1, p)
        self.map_size = tuple(int(s) for s in map_size)
        if self.map_size[0] * self.map_size[1] != p:
            raise ValueError(f'GuidanceCenters: map_size {self.map_size} does not hold {p} '
                             'positions')

    @property
    def num_positions(self) -> int:
        return self.centers.shape[0]

    @property
    def channels(self) -> int:
        return self.centers.shape[2]

    def assign(self, feats) -> torch.Tensor:
        """G for backbone maps N×D×H×W (torch) or position features N×P×D: N×H×W float {0, 1},
        on the input's device. Ties (equal distances) go to the general cluster."""
        x = torch.as_tensor(feats)
        if x.dim() == 4:
            n, d, h, w = x.shape
            if (h, w) != self.map_size or d != self.channels:
                raise ValueError(f'guidance centers were fitted on {self.channels}×'
                                 f'{self.map_size[0]}×{self.map_size[1]} maps, got '
                                 f'{d}×{h}×{w}; recompute them for this backbone / input size')
            x = x.flatten(2).transpose(1, 2)
        if x.dim() != 3 or x.shape[1:] != self.centers.shape[::2]:
            raise ValueError(f'assign expects N×{self.num_positions}×{self.channels} features, '
                             f'got {tuple(x.shape)}')
        x = x.float()
        c, att = self._on(x.device)  # P×2×D, (P,)
        # ||x − c_k||² − ||x||² = −2 x·c_k + ||c_k||²  (per position, per cluster)
        d = -2 * torch.einsum('npd,pkd->npk', x, c) + (c * c).sum(-1)[None]
        nearest = torch.where(d[..., 1] < d[..., 0], 1, 0)
        att = att[None]
        g = (nearest == att) & (att >= 0)
        return g.float().reshape(x.shape[0], *self.map_size)

    def _on(self, device):
        """Centers and attentive indices as tensors on ``device`` (copied once per device, not
        once per training batch)."""
        cache = self.__dict__.setdefault('_device_cache', {})
        if device not in cache:
            cache[device] = (torch.as_tensor(self.centers, device=device),
                             torch.as_tensor(self.attentive, device=device))
        return cache[device]

    def to_meta(self) -> dict:
        """Plain (picklable, weights-only-loadable) entries for a checkpoint's ``meta``."""
        return dict(centers=torch.from_numpy(self.centers.copy()),
                    sizes=torch.from_numpy(self.sizes.copy()),
                    attentive=torch.from_numpy(self.attentive.copy()),
                    map_size=list(self.map_size))

    @classmethod
    def from_meta(cls, meta: dict) -> 'GuidanceCenters':
        def arr(v):
            return v.cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
        return cls(arr(meta['centers']), arr(meta['sizes']), arr(meta['attentive']),
                   meta.get('map_size'))


def flip_guidance(g: torch.Tensor) -> torch.Tensor:
    """G of the horizontally flipped image under ``precomputed`` guidance: column j ↔ W−1−j."""
    return torch.flip(g, dims=(-1, ))


# ----------------------------------------------------------------------------------------------
# feature stores and backends
class ExactStore:
    """All features in memory, float32, position-major P×N×D."""

    backend = 'exact'

    def __init__(self, num_images: int, positions: int, channels: int,
                 memory_budget: Optional[int] = None):
        check_exact_budget(num_images, positions, channels, memory_budget)
        self.data = np.zeros((positions, num_images, channels), np.float32)

    def write(self, indices: np.ndarray, feats: np.ndarray) -> None:
        """Store ``feats`` (B×P×D) of the images ``indices``."""
        self.data[:, np.asarray(indices)] = np.asarray(feats, np.float32).transpose(1, 0, 2)

    def position(self, p: int) -> np.ndarray:
        return self.data[p]


class MemmapStore(ExactStore):
    """A float16 memory-mapped file (P×N×D) at ``path``; ``position`` reads one N×D block."""

    backend = 'memmap'

    def __init__(self, path: str, num_images: int, positions: int, channels: int,
                 mode: str = 'w+'):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self.data = np.lib.format.open_memmap(path, mode=mode, dtype=np.float16,
                                              shape=(positions, num_images, channels)) \
            if mode == 'w+' else np.load(path, mmap_mode=mode)

    def write(self, indices, feats) -> None:
        self.data[:, np.asarray(indices)] = np.asarray(feats, np.float16).transpose(1, 0, 2)

    def flush(self) -> None:
        self.data.flush()

    def position(self, p: int) -> np.ndarray:
        return np.asarray(self.data[p], dtype=np.float32)


def fit_store(store, seed: int = 0, restarts: int = 10, max_iter: int = 300,
              map_size: Optional[Sequence[int]] = None) -> GuidanceCenters:
    """Cluster every position of an ``ExactStore`` / ``MemmapStore``, one position at a time."""
    positions = store.data.shape[0]
    centers, sizes, attentive = [], [], []
    for p in range(positions):
        c, s, a = cluster_position(store.position(p), seed, p, restarts, max_iter)
        centers.append(c)
        sizes.append(s)
        attentive.append(a)
    return GuidanceCenters(np.stack(centers), np.stack(sizes), attentive, map_size)


def fit_exact(features: np.ndarray, **kwargs) -> GuidanceCenters:
    """``exact`` on an in-memory N×P×D array."""
    features = np.asarray(features, np.float32)
    store = ExactStore(*features.shape)
    store.write(np.arange(len(features)), features)
    return fit_store(store, **kwargs)


def fit_minibatch(batches: Callable[[], Iterable[np.ndarray]], seed: int = 0,
                  passes: int = 3, init_size: int = 512, restarts: int = 10,
                  max_iter: int = 300, map_size: Optional[Sequence[int]] = None
                  ) -> GuidanceCenters:
    """Streaming mini-batch K-means per position.

    Args:
        batches: a callable returning a fresh iterator over B×P×D feature batches (one pass over
            the training set; called ``passes + 1`` times, plus once for the init sample).
        passes: update passes. In a pass, a batch's members of cluster k move its center to the
            running mean c_k ← c_k + (Σx − m_k c_k)/n_k (n_k: members seen in this pass).
        init_size: images gathered from the start of the stream for the k-means++ / Lloyd
            initialisation (``restarts`` runs), the only buffer besides one batch.
    """
    buf, have = [], 0
    for b in batches():
        b = np.asarray(b, np.float32)
        buf.append(b[:init_size - have])
        have += len(buf[-1])
        if have >= init_size:
            break
    if not buf:
        raise ValueError('fit_minibatch: the feature stream is empty')
    sample = np.concatenate(buf)
    del buf
    positions, dim = sample.shape[1:]
    centers = np.empty((positions, 2, dim), np.float64)
    degenerate = np.zeros(positions, bool)
    for p in range(positions):
        c, s, a = cluster_position(np.ascontiguousarray(sample[:, p]), seed, p, restarts,
                                   max_iter)
        centers[p] = c
        degenerate[p] = a < 0
    del sample

    def nearest(xb, c):  # B×P×D, P×2×D → B×P labels (tie → 0)
        d = -2 * np.einsum('bpd,pkd->bpk', xb, c) + np.einsum('pkd,pkd->pk', c, c)[None]
        return (d[..., 1] < d[..., 0]).astype(np.int64)

    for _ in range(int(passes)):
        counts = np.zeros((positions, 2), np.int64)
        for b in batches():
            xb = np.asarray(b, np.float64)
            lab = nearest(xb, centers)
            for k in range(2):
                m = lab == k  # B×P
                mk = m.sum(axis=0)
                if not mk.any():
                    continue
                sums = np.einsum('bp,bpd->pd', m.astype(np.float64), xb)
                counts[:, k] += mk
                upd = mk > 0
                centers[upd, k] += (sums[upd] - mk[upd, None] * centers[upd, k]) \
                    / counts[upd, k][:, None]
    sizes = np.zeros((positions, 2), np.int64)
    total = np.zeros((positions, dim), np.float64)
    n = 0
    for b in batches():
        xb = np.asarray(b, np.float64)
        lab = nearest(xb, centers)
        sizes[:, 1] += lab.sum(axis=0)
        sizes[:, 0] += (1 - lab).sum(axis=0)
        total += xb.sum(axis=0)
        n += len(xb)
    mean = total / max(n, 1)
    attentive = []
    for p in range(positions):
        if degenerate[p] or (sizes[p] == 0).any():
            if not degenerate[p]:
                warnings.warn(f'minibatch K-means at position {p}: a cluster is empty after the '
                              'passes; G = 0 at this position for every input')
            attentive.append(-1)
        else:
            attentive.append(attentive_cluster(centers[p], sizes[p], mean[p]))
    return GuidanceCenters(centers, sizes, attentive, map_size)


def iter_chunks(features: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """B×P×D batches of an in-memory N×P×D array (tests and small sets)."""
    for s in range(0, len(features), batch_size):
        yield features[s:s + batch_size]
