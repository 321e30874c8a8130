"""SynthFER renderer: procedural expressive faces drawn with OpenCV primitives.

Pure numpy + OpenCV, no torch.  Two public steps:

* :func:`sample_params` draws every random choice of one sample from a PCG64 generator whose
  state is hashed from ``(seed, split_id, index, stream)`` (one stream per group of parameters:
  label/identity, expression, pose, appearance, occlusion, degradation), so sample ``index`` never
  depends on another sample, on the process that draws it, or on a global RNG.  Conditioning one
  group (e.g. a pose subset) leaves the other groups of that sample unchanged.
* :func:`render` turns the parameters into ``(img, ann)``: an RGB ``uint8`` image of shape
  ``(size, size, 3)`` and its ground truth (68 iBUG landmarks, pose, intensity, identity ...).

Geometry.  The face lives in a head frame (x to the image right, y down, z towards the camera;
unit = half the head width).  Every drawn point (the 68 landmarks plus the denser curves used for
drawing: eyelids, lips, hair line, silhouettes) is a 3-D point ``p`` built from the identity shape
and the facial actions, then projected with one matrix product (weak perspective)::

    q = c + s · (R(roll) · R(pitch) · R(yaw) · (p − o))[:2]

with ``o`` the rotation centre, ``s`` the scale in pixels per unit and ``c`` the image position of
``o``.  Angles: positive yaw turns the nose towards the image right (+x), positive pitch lifts the
chin (nose tip moves up, −y), positive roll turns the face clockwise in the image.  Landmarks are
the projected 3-D points (like 300W-LP / AFLW2000-3D "3-D landmarks"): a point on the far side of
a turned head keeps its projected position and is flagged in ``ann['visible']``.

Expressions (RAF-DB order, :data:`CLASSES`) are prototypes over facial actions (FACS-like AUs,
:data:`ACTIONS`); an action value = prototype weight × intensity × jitter, plus small idle
activations and an identity-specific resting face, so weak expressions approach Neutral and Fear
shares most actions with Surprise.
"""
import functools
import threading
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

CLASSES = ('Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral')
NUM_CLASSES = len(CLASSES)
NEUTRAL = 6
# RAF-DB basic training split, per class in RAF-DB order (12,271 images).
RAFDB_TRAIN_COUNTS = (1290, 281, 717, 4772, 1982, 705, 2524)
SPLIT_IDS = {'train': 0, 'val': 1, 'test': 2}
# Identities of different splits never overlap: identity = offset[split] + k, k < num_identities.
IDENTITY_OFFSETS = {'train': 0, 'val': 1_000_000, 'test': 2_000_000}
DEFAULT_NUM_IDENTITIES = 1500

# Facial actions (FACS action units in brackets).
ACTIONS = ('inner_brow_raise',   # AU1
           'outer_brow_raise',   # AU2
           'brow_lower',         # AU4 (lowers and draws the brows together)
           'upper_lid_raise',    # AU5
           'cheek_raise',        # AU6
           'lid_tighten',        # AU7
           'nose_wrinkle',       # AU9
           'upper_lip_raise',    # AU10
           'lip_corner_pull',    # AU12
           'lip_corner_depress',  # AU15
           'chin_raise',         # AU17
           'lip_stretch',        # AU20
           'lip_press',          # AU24
           'jaw_drop',           # AU26/27
           'lid_droop',          # AU43-like lowering of the upper lids
           'mouth_round')        # narrowing of an open mouth (surprise "O")
A = {name: i for i, name in enumerate(ACTIONS)}

# Prototype action weights per class; variants (open smile, shouting anger) are added in
# ``_sample_expression``.
PROTOTYPES = {
    0: dict(inner_brow_raise=0.95, outer_brow_raise=0.95, upper_lid_raise=0.85, jaw_drop=0.85,
            mouth_round=0.7),
    1: dict(inner_brow_raise=0.95, outer_brow_raise=0.45, brow_lower=0.55, upper_lid_raise=0.95,
            lid_tighten=0.2, lip_stretch=0.9, jaw_drop=0.35),
    2: dict(nose_wrinkle=0.95, upper_lip_raise=0.85, brow_lower=0.55, lip_corner_depress=0.7,
            chin_raise=0.3, lid_tighten=0.35, cheek_raise=0.1),
    3: dict(cheek_raise=0.75, lip_corner_pull=1.0),
    4: dict(inner_brow_raise=0.85, brow_lower=0.45, lip_corner_depress=0.85, chin_raise=0.45,
            lid_droop=0.6),
    5: dict(brow_lower=1.0, upper_lid_raise=0.3, lid_tighten=0.8, lip_press=0.95, chin_raise=0.35),
    6: dict(),
}

# Landmark index groups (iBUG 68).
JAW = np.arange(0, 17)
NOSE_TIP = 30

SKIN_TONES = np.array([(255, 224, 196), (241, 194, 160), (224, 172, 130), (198, 144, 104),
                       (165, 112, 75), (125, 82, 55), (92, 60, 40)], np.float32)
HAIR_COLOURS = np.array([(25, 20, 18), (60, 40, 25), (105, 70, 40), (160, 120, 70),
                         (210, 175, 110), (140, 60, 30), (150, 150, 150), (225, 225, 220)],
                        np.float32)
_HAIR_CDF = np.cumsum([0.3, 0.22, 0.15, 0.08, 0.08, 0.05, 0.08, 0.04])[:-1]
_STYLE_CDF = np.cumsum([0.08, 0.35, 0.22, 0.3, 0.05])[:-1]
IRIS_COLOURS = np.array([(70, 45, 25), (110, 75, 40), (70, 110, 150), (80, 120, 80),
                         (110, 110, 115)], np.float32)

# Projection q = size·(IMAGE_CENTRE + shift) + size·FACE_SCALE·scale·(R·(p − ROT_ORIGIN))[:2]:
# one head unit (half the head width) spans FACE_SCALE of the image, as tight as RAF-DB's
# aligned crops.
FACE_SCALE = 0.43
ROT_ORIGIN = (0.0, 0.15, -0.25)
IMAGE_CENTRE = (0.5, 0.47)

# Default nuisance settings (probabilities and ranges); ``sample_params(nuisance=...)`` overrides.
DEFAULT_NUISANCE = dict(
    yaw_std=20.0, yaw_max=60.0, pitch_std=9.0, roll_std=3.0, angle_max=25.0,
    scale_jitter=0.04, shift_jitter=0.025,
    occlusion_prob=0.08, blur_prob=0.25, blur_max=0.8, noise_prob=0.5, noise_max=6.0,
    jpeg_prob=0.5, jpeg_min=40, light_strength=0.4, clutter=(2, 6))
# Intensity of non-neutral expressions: lo + (1 - lo) * Beta(a, b).
DEFAULT_INTENSITY = dict(lo=0.25, a=2.5, b=1.2)
WEAK_INTENSITY = (0.1, 0.35)   # range used by the weak-intensity subset
OCCLUDERS = ('sunglasses', 'mask', 'hand', 'patch', 'glasses')
STRONG_OCCLUDERS = ('sunglasses', 'mask', 'hand', 'patch')

# Streams of the per-sample RNG.
_S_LABEL, _S_EXPR, _S_POSE, _S_LOOK, _S_OCC, _S_DEGRADE, _S_IDENTITY = range(7)


_M64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _pcg_state(*key: int) -> dict:
    """PCG64 state (128-bit state and odd increment) hashed from a tuple of integers by a
    splitmix64 chain: pure integer arithmetic, identical on every machine."""
    h = 0x5F3759DF
    for k in key:
        h = _splitmix64(h ^ (int(k) & _M64))
    h1 = _splitmix64(h ^ 1)
    h2 = _splitmix64(h1 ^ 2)
    h3 = _splitmix64(h2 ^ 3)
    h4 = _splitmix64(h3 ^ 4)
    return {'bit_generator': 'PCG64', 'state': {'state': (h1 << 64) | h2, 'inc': ((h3 << 64) | h4) | 1},
            'has_uint32': 0, 'uinteger': 0}


_TLS = threading.local()


def _keyed_rng(*key: int) -> np.random.Generator:
    """A generator in the state hashed from ``key``.

    Setting the state of a per-thread PCG64 costs ~3 µs where ``default_rng(seq)`` costs ~40 µs
    (SeedSequence hashing); this matters because every sample opens six streams.  The returned
    object is reused by the next call in the same thread: use one stream at a time.
    """
    gen = getattr(_TLS, 'gen', None)
    if gen is None:
        gen = _TLS.gen = np.random.Generator(np.random.PCG64(0))
    gen.bit_generator.state = _pcg_state(*key)
    return gen


def sample_rng(seed: int, split: str, index: int, stream: int) -> np.random.Generator:
    """The RNG of one parameter group of one sample, keyed by (seed, split, index, stream).

    Valid until the next call in the same thread (see :func:`_keyed_rng`).
    """
    return _keyed_rng(seed, SPLIT_IDS[split], index, stream)


# ----------------------------------------------------------------------------------------------
# Parameter sampling
# ----------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8192)
def identity_params(seed: int, identity: int) -> dict:
    """Face shape and colours of identity ``identity`` (same for every sample of it).

    Cached: the returned dict is shared and must not be modified.
    """
    rng = np.random.Generator(np.random.PCG64(0))
    rng.bit_generator.state = _pcg_state(seed, 99, identity, _S_IDENTITY)
    tone = rng.integers(len(SKIN_TONES))
    skin = SKIN_TONES[tone] * rng.uniform(0.93, 1.05) + rng.normal(0, 5, 3)
    hair = HAIR_COLOURS[np.searchsorted(_HAIR_CDF, rng.random())] * rng.uniform(0.8, 1.15)
    lip = skin * np.array([0.86, 0.6, 0.6]) + rng.normal(0, 6, 3)
    return dict(
        skin=np.clip(skin, 0, 255), hair=np.clip(hair, 0, 255), lip=np.clip(lip, 0, 255),
        iris=IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))] * rng.uniform(0.8, 1.2),
        hair_style=int(np.searchsorted(_STYLE_CDF, rng.random())),  # bald short fringe long bun
        head_w=rng.uniform(0.92, 1.06), head_h=rng.uniform(1.22, 1.38),
        jaw_w=rng.uniform(0.78, 0.95), jaw_square=rng.uniform(2.0, 3.2), chin_y=rng.uniform(1.12, 1.3),
        eye_y=rng.uniform(-0.08, 0.02), eye_dx=rng.uniform(0.34, 0.42), eye_w=rng.uniform(0.18, 0.22),
        eye_h=rng.uniform(0.075, 0.095), eye_tilt=rng.uniform(-0.02, 0.03),
        brow_gap=rng.uniform(0.14, 0.22), brow_h=rng.uniform(0.22, 0.27),
        brow_thick=rng.uniform(0.055, 0.09), brow_arch=rng.uniform(0.02, 0.07),
        nose_len=rng.uniform(0.38, 0.5), nose_w=rng.uniform(0.13, 0.19),
        mouth_y=rng.uniform(0.68, 0.78), mouth_w=rng.uniform(0.3, 0.37),
        lip_up=rng.uniform(0.06, 0.09), lip_lo=rng.uniform(0.08, 0.12),
        # resting face: a neutral face is never exactly "all actions at rest"
        rest_corner=rng.normal(0, 0.035), rest_brow=rng.normal(0, 0.035),
        beard=bool(rng.random() < 0.12), age_lines=rng.uniform(0.0, 0.5),
        cheek_blush=rng.uniform(0.0, 0.35),
        hair_wave=(rng.uniform(0.0, 0.07), rng.uniform(0.5, 1.6), rng.uniform(0, 2 * np.pi)))


def sample_intensity(rng: np.random.Generator, label: int,
                     intensity_range: Optional[Tuple[float, float]] = None,
                     cfg: Optional[dict] = None) -> float:
    """Expression intensity in [0, 1]; 0 for Neutral.  With ``intensity_range`` the draw is
    uniform in that range (the weak-intensity subset)."""
    if label == NEUTRAL:
        return 0.0
    if intensity_range is not None:
        return float(rng.uniform(*intensity_range))
    cfg = cfg or DEFAULT_INTENSITY
    return float(cfg['lo'] + (1 - cfg['lo']) * rng.beta(cfg['a'], cfg['b']))


def _sample_expression(rng: np.random.Generator, label: int, intensity: float,
                       rest_corner: float, rest_brow: float) -> Tuple[np.ndarray, int]:
    """Action vector (len(ACTIONS),) and a mouth variant id for one expression."""
    acts = np.zeros(len(ACTIONS))
    proto = dict(PROTOTYPES[label])
    variant = 0
    if label == 3 and rng.random() < 0.5:            # open smile, teeth visible
        proto['jaw_drop'] = 0.3
        variant = 1
    elif label == 5 and rng.random() < 0.3:          # shouting anger: open square mouth
        proto.pop('lip_press')
        proto.update(upper_lip_raise=0.5, jaw_drop=0.45)
        variant = 1
    elif label == 1 and rng.random() < 0.3:          # fear with the mouth closed and stretched
        proto['jaw_drop'] = 0.0
        variant = 1
    idx = [A[name] for name in proto]
    acts[idx] = np.fromiter(proto.values(), float, len(idx)) * intensity * rng.uniform(0.7, 1.15, len(idx))
    # idle activations: everyone moves a little
    acts += np.abs(rng.normal(0, 0.03, len(ACTIONS))) * (rng.random(len(ACTIONS)) < 0.3)
    # resting face (identity): slightly down-turned mouth, lowered brows ...
    if rest_corner > 0:
        acts[A['lip_corner_depress']] += rest_corner
    else:
        acts[A['lip_corner_pull']] -= rest_corner
    if rest_brow > 0:
        acts[A['brow_lower']] += rest_brow
    else:
        acts[A['inner_brow_raise']] -= rest_brow
    return np.clip(acts, 0, 1), variant


def _truncated_normal(rng, std, lo, hi, sym=True):
    """|x| in [lo, hi] for x ~ N(0, std) (symmetric) by rejection; lo=0 gives plain clipping."""
    if lo <= 0:
        return float(np.clip(rng.normal(0, std), -hi, hi))
    for _ in range(10000):
        x = rng.normal(0, std)
        if lo < abs(x) <= hi:
            return float(x)
    # the rejection never fails for the ranges used here (P(accept) > 1e-3)
    raise RuntimeError(f'could not draw |x| in ({lo}, {hi}] from N(0, {std})')


def _draw_identity(r, label, split, num_identities):
    identity = IDENTITY_OFFSETS[split] + int(r.integers(num_identities))
    if label is None:
        label = int(r.integers(NUM_CLASSES))
    if not 0 <= label < NUM_CLASSES:
        raise ValueError(f'label must be in [0, {NUM_CLASSES}), got {label}')
    return label, identity


def _draw_pose(r, nz, min_abs_yaw):
    yaw = _truncated_normal(r, nz['yaw_std'], min_abs_yaw, nz['yaw_max'])
    pitch = float(np.clip(r.normal(0, nz['pitch_std']), -nz['angle_max'], nz['angle_max']))
    roll = float(np.clip(r.normal(0, nz['roll_std']), -nz['angle_max'], nz['angle_max']))
    return yaw, pitch, roll


def _draw_occluder_kind(r, nz, occlusion):
    if occlusion not in (None, 'none', 'strong'):
        raise ValueError(f"occlusion must be None, 'none' or 'strong', got {occlusion!r}")
    p_occ = 0.0 if occlusion == 'none' else 1.0 if occlusion == 'strong' else nz['occlusion_prob']
    if r.random() >= p_occ:
        return None
    kinds = STRONG_OCCLUDERS if occlusion == 'strong' else OCCLUDERS
    return str(kinds[r.integers(len(kinds))])


def _options(split, nuisance, intensity_cfg):
    if split not in SPLIT_IDS:
        raise ValueError(f'split must be one of {sorted(SPLIT_IDS)}, got {split!r}')
    unknown = set(nuisance or {}) - set(DEFAULT_NUISANCE)
    if unknown:
        raise ValueError(f'unknown nuisance keys {sorted(unknown)}; known: {sorted(DEFAULT_NUISANCE)}')
    unknown = set(intensity_cfg or {}) - set(DEFAULT_INTENSITY)
    if unknown:
        raise ValueError(f'unknown intensity_cfg keys {sorted(unknown)}; known: {sorted(DEFAULT_INTENSITY)}')
    return dict(DEFAULT_NUISANCE, **(nuisance or {})), dict(DEFAULT_INTENSITY, **(intensity_cfg or {}))


def sample_meta(seed: int, index: int, label: Optional[int] = None, split: str = 'train',
                num_identities: int = DEFAULT_NUM_IDENTITIES,
                intensity_range: Optional[Tuple[float, float]] = None,
                min_abs_yaw: float = 0.0, occlusion: Optional[str] = None,
                nuisance: Optional[dict] = None, intensity_cfg: Optional[dict] = None) -> dict:
    """The cheap part of :func:`sample_params` (same arguments, same values): label, identity,
    intensity, yaw/pitch/roll and the occluder kind ('none' if none), without the identity's
    appearance, the actions or anything else.  About 10× faster than :func:`sample_params`."""
    nz, icfg = _options(split, nuisance, intensity_cfg)
    label, identity = _draw_identity(sample_rng(seed, split, index, _S_LABEL), label, split,
                                     num_identities)
    intensity = sample_intensity(sample_rng(seed, split, index, _S_EXPR), label, intensity_range, icfg)
    yaw, pitch, roll = _draw_pose(sample_rng(seed, split, index, _S_POSE), nz, min_abs_yaw)
    kind = _draw_occluder_kind(sample_rng(seed, split, index, _S_OCC), nz, occlusion)
    return dict(label=label, identity=identity, intensity=intensity, pose=(yaw, pitch, roll),
                occluder=kind or 'none')


def sample_params(seed: int, index: int, label: Optional[int] = None, split: str = 'train',
                  num_identities: int = DEFAULT_NUM_IDENTITIES,
                  intensity_range: Optional[Tuple[float, float]] = None,
                  min_abs_yaw: float = 0.0, occlusion: Optional[str] = None,
                  nuisance: Optional[dict] = None, intensity_cfg: Optional[dict] = None) -> dict:
    """Draw all parameters of sample ``index`` of ``split`` (no rendering).

    Args:
        seed: dataset seed.
        index: sample index (≥ 0).
        label: class index in RAF-DB order; ``None`` draws it uniformly from the label stream.
        split: 'train', 'val' or 'test' (separate streams and disjoint identity pools).
        num_identities: identities of this split; identity = offset[split] + k, k < num_identities.
        intensity_range: force intensity uniform in this range (non-neutral classes).
        min_abs_yaw: condition the yaw on |yaw| > min_abs_yaw degrees (pose subsets).
        occlusion: None (random, probability ``nuisance['occlusion_prob']``), 'none' (never) or
            'strong' (always one of :data:`STRONG_OCCLUDERS`, the occlusion subset).
        nuisance: overrides of :data:`DEFAULT_NUISANCE`.
        intensity_cfg: overrides of :data:`DEFAULT_INTENSITY`.

    Returns:
        dict of plain Python / numpy values, the input of :func:`render`.
    """
    nz, icfg = _options(split, nuisance, intensity_cfg)
    label, identity = _draw_identity(sample_rng(seed, split, index, _S_LABEL), label, split,
                                     num_identities)
    idp = identity_params(int(seed), identity)

    r = sample_rng(seed, split, index, _S_EXPR)
    intensity = sample_intensity(r, label, intensity_range, icfg)
    actions, variant = _sample_expression(r, label, intensity, idp['rest_corner'], idp['rest_brow'])
    gaze = r.normal(0, 0.025, 2)

    r = sample_rng(seed, split, index, _S_POSE)
    yaw, pitch, roll = _draw_pose(r, nz, min_abs_yaw)
    scale = float(1 + r.uniform(-1, 1) * nz['scale_jitter'])
    shift = r.uniform(-1, 1, 2) * nz['shift_jitter']

    r = sample_rng(seed, split, index, _S_LOOK)
    look = dict(bg_seed=int(r.integers(2**31)),
                bg=r.uniform(30, 230, (2, 3)),
                clothes=r.uniform(20, 230, 3),
                light_dir=float(r.uniform(0, 2 * np.pi)),
                light=float(r.uniform(0, nz['light_strength'])),
                brightness=float(r.uniform(0.7, 1.25)),
                cast=r.uniform(0.88, 1.12, 3))

    r = sample_rng(seed, split, index, _S_OCC)
    occ = None
    kind = _draw_occluder_kind(r, nz, occlusion)
    if kind is not None:
        occ = dict(kind=kind, region=int(r.integers(4)), size=float(r.uniform(0.75, 1.15)),
                   angle=float(r.uniform(-35, 35)), offset=r.uniform(-0.12, 0.12, 2),
                   colour=r.uniform(0, 255, 3), tex=int(r.integers(3)),
                   skin=idp['skin'] * r.uniform(0.85, 1.1))

    r = sample_rng(seed, split, index, _S_DEGRADE)
    degrade = dict(
        blur=float(r.uniform(0.3, nz['blur_max'])) if r.random() < nz['blur_prob'] else 0.0,
        noise=float(r.uniform(2, nz['noise_max'])) if r.random() < nz['noise_prob'] else 0.0,
        jpeg=int(r.integers(nz['jpeg_min'], 96)) if r.random() < nz['jpeg_prob'] else 0,
        noise_seed=int(r.integers(2**31)))
    return dict(label=label, intensity=intensity, identity=identity, id=idp, actions=actions,
                variant=variant, gaze=gaze, pose=(yaw, pitch, roll), scale=scale, shift=shift,
                look=look, occluder=occ, degrade=degrade, clutter=nz['clutter'])


# ----------------------------------------------------------------------------------------------
# Geometry
# ----------------------------------------------------------------------------------------------
def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """R = R_roll · R_pitch · R_yaw (degrees), see the module docstring for the signs."""
    y, p, r = np.deg2rad([yaw, pitch, roll])
    cy, sy, cp, sp, cr, sr = np.cos(y), np.sin(y), np.cos(p), np.sin(p), np.cos(r), np.sin(r)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rp = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rr = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rr @ rp @ ry


_CIRCLES = {}


def _circle(n):
    """cos/sin of n angles evenly spaced on [0, 2π) (cached)."""
    if n not in _CIRCLES:
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        _CIRCLES[n] = (np.cos(t)[:, None], np.sin(t)[:, None])
    return _CIRCLES[n]


def _basis(w):
    """Two unit vectors completing the unit vector w to an orthonormal basis."""
    wx, wy, wz = w
    a = (0.0, 0.0, 1.0) if abs(wz) < 0.9 else (1.0, 0.0, 0.0)
    e1 = np.array([wy * a[2] - wz * a[1], wz * a[0] - wx * a[2], wx * a[1] - wy * a[0]])
    e1 /= np.sqrt(e1 @ e1)
    e2 = np.array([wy * e1[2] - wz * e1[1], wz * e1[0] - wx * e1[2], wx * e1[1] - wy * e1[0]])
    return e1, e2


def _ellipsoid_silhouette(centre, axes, R, n=40):
    """Head-frame points of the outline of an ellipsoid seen along the camera axis.

    The outline is where the normal A·p is orthogonal to the view direction v = Rᵀ·ẑ, i.e. the
    plane p·(A v) = 0 through the centre (A = diag(1/axes²)).  Returns (n, 3) points.
    """
    inv = 1.0 / (axes * axes)
    w = inv * R[2]                   # R[2]: the camera z axis expressed in the head frame
    w /= np.sqrt(w @ w)
    e1, e2 = _basis(w)
    c, s = _circle(n)
    d = c * e1 + s * e2
    return centre + d / np.sqrt((d * d) @ inv)[:, None]


def _plane_cut(centre, axes, normal, offset, n=28):
    """Points of the ellipse where the plane normal·(p − centre) = offset cuts the ellipsoid."""
    # In the unit-sphere frame u = (p − c)/axes the plane is (normal·axes)·u = offset.
    m = normal * axes
    norm = np.sqrt(m @ m)
    m, d = m / norm, offset / norm
    rad = np.sqrt(max(1 - d * d, 1e-6))
    e1, e2 = _basis(m)
    c, s = _circle(n)
    return centre + (m * d + rad * (c * e1 + s * e2)) * axes


class _Pts:
    """Named groups of head-frame points, projected together with one matrix product.

    Face-surface groups are given as (x, y) plus a depth offset; their z is the face surface
    depth computed once for all of them (:func:`_face_z`).  Other groups carry explicit z.
    """

    def __init__(self):
        self.g2, self.g3, self.names = [], [], {}
        self.n2 = self.n3 = 0

    def add2(self, name, xy, dz=0.0):
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        self.g2.append((xy, dz))
        self.names[name] = (2, self.n2, self.n2 + len(xy))
        self.n2 += len(xy)

    def add3(self, name, pts):
        pts = np.asarray(pts, np.float64).reshape(-1, 3)
        self.g3.append(pts)
        self.names[name] = (3, self.n3, self.n3 + len(pts))
        self.n3 += len(pts)

    def stack(self, idp):
        """(N, 3) points and {name: slice} into them."""
        xy = np.concatenate([g[0] for g in self.g2], 0)
        dz = np.concatenate([np.full(len(g[0]), g[1]) if isinstance(g[1], float) else g[1]
                             for g in self.g2], 0)
        z = _face_z(xy[:, 0], xy[:, 1], idp) + dz
        pts = np.concatenate([np.column_stack([xy, z])] + self.g3, 0)
        sl = {k: slice(a + (0 if kind == 2 else self.n2), b + (0 if kind == 2 else self.n2))
              for k, (kind, a, b) in self.names.items()}
        return pts, sl


def _face_z(x, y, idp):
    """Depth of the face surface at (x, y) (head frame): an ellipsoid plus a chin bump."""
    a, b = idp['head_w'] * 1.02, idp['head_h'] * 1.12
    q = 1 - (x / a) ** 2 - ((y + 0.2) / b) ** 2
    z = np.sqrt(np.clip(q, 0.05, 1))
    chin = 0.35 * np.exp(-((y - idp['chin_y'] + 0.15) / 0.35) ** 2) * np.clip(1 - (x / 0.7) ** 2, 0, 1)
    return z + chin


_U17 = np.linspace(0, np.pi, 17)
_BROW_T = np.concatenate([np.linspace(0, 1, 5), np.linspace(0, 1, 9)])
_LID_U = np.concatenate([np.linspace(0, 1, 9), [0, 1 / 3, 2 / 3, 1]])
_MOUTH_U = np.concatenate([np.linspace(-1, 1, 15), [-1, -0.6, -0.25, 0, 0.25, 0.6, 1],
                           [-0.85, -0.4, 0, 0.4, 0.85]])
_FORE_X = np.linspace(-0.55, 0.55, 7)
_SIN5 = np.sin(np.linspace(0, np.pi, 5))
_LIN5 = np.linspace(-1, 1, 5)


def build_geometry(p: dict) -> Tuple[_Pts, dict]:
    """Head-frame points of one face: the 68 landmarks and the curves used for drawing.

    Returns the point groups and a dict of per-face values used while drawing (mouth gap,
    wrinkle strengths).
    """
    idp, act = p['id'], p['actions']
    (brow1, brow2, brow4, lid5, cheek6, lid7, nose9, lip10, pull12, dep15, chin17, str20, press24,
     jaw26, droop, rnd) = (float(v) for v in act)
    P = _Pts()
    info = {}
    ey, ew, eh = idp['eye_y'], idp['eye_w'], idp['eye_h']

    # --- jaw 0..16: superellipse from ear level round the chin; the chin follows the jaw ---
    c, s = np.cos(_U17), np.sin(_U17)
    ex = 2.0 / idp['jaw_square']
    jx = -idp['jaw_w'] * idp['head_w'] * np.sign(c) * np.abs(c) ** ex
    y_top = ey + 0.12
    sa = np.abs(s)
    jy = y_top + (idp['chin_y'] - y_top) * sa ** ex + 0.32 * jaw26 * sa ** 3
    jz = _face_z(jx, jy, idp) * (0.35 + 0.55 * s * s)
    P.add3('jaw', np.column_stack([jx, jy, jz]))

    # --- brows 17..26 (outer→inner on the image left, inner→outer on the right) ---
    u = _BROW_T                                           # 0 outer, 1 inner
    x_in, x_out = idp['brow_gap'], idp['eye_dx'] + ew * 1.25
    bx = x_out + (x_in - x_out) * u - 0.1 * brow4 * u * u - 0.04 * brow1 * brow4 * u
    by = (ey - idp['brow_h'] - idp['brow_arch'] * np.sin(np.pi * (u * 0.8 + 0.1)) + 0.02 * u
          - 0.3 * brow1 * u ** 1.6
          - 0.22 * brow2 * (1 - 0.45 * u) - 0.06 * brow2 * np.sin(np.pi * u)
          + 0.2 * brow4 * (0.4 + 0.6 * u))
    P.add2('brow', np.concatenate([np.column_stack([-bx[:5], by[:5]]),
                                   np.column_stack([bx[4::-1], by[4::-1]])]), 0.03)
    tt = u[5:]
    th = idp['brow_thick'] * (0.45 + 0.75 * np.sin(np.pi * (0.25 + 0.6 * tt)))
    cx, cy = bx[5:], by[5:]
    poly = np.concatenate([np.column_stack([cx, cy - th * 0.55]),
                           np.column_stack([cx[::-1], (cy + th * 0.45)[::-1]])])
    P.add2('browp0', poly * (-1, 1), 0.03)
    P.add2('browp1', poly, 0.03)

    # --- nose 27..35 ---
    nl = idp['nose_len']
    nw = idp['nose_w'] * (1 + 0.25 * nose9 + 0.1 * lip10)
    base_y = ey + nl + 0.07 - 0.05 * nose9 - 0.03 * lip10
    nose = np.array([[0, ey], [0, ey + 0.33 * nl], [0, ey + 0.66 * nl], [0, ey + nl],
                     [-nw, base_y - 0.015], [-0.5 * nw, base_y + 0.012], [0, base_y + 0.025],
                     [0.5 * nw, base_y + 0.012], [nw, base_y - 0.015]])
    P.add2('nose', nose, np.array([0.02, 0.12, 0.22, 0.34, 0.1, 0.16, 0.2, 0.16, 0.1]))
    P.add2('nose_wing', [[-nw * 1.15, base_y - 0.06], [nw * 1.15, base_y - 0.06]], 0.08)

    # --- eyes 36..47 ---
    up_open = (1 + 1.4 * lid5) * (1 - 0.55 * lid7) * (1 - 0.5 * droop) * (1 - 0.3 * cheek6)
    lo_open = (1 - 0.65 * cheek6) * (1 - 0.55 * lid7) * (1 + 0.3 * lid5)
    uu = _LID_U                                           # 0 outer corner, 1 inner corner
    tilt = idp['eye_tilt'] * (1 - 1.3 * uu)
    sin_u = np.sin(np.pi * uu)
    y_up = (ey - tilt - eh * up_open * sin_u ** 0.8 * (1.075 - 0.15 * uu)
            + 0.02 * brow1 * droop * (1 - uu))            # sadness: oblique inner lid
    y_lo = ey - tilt + eh * 0.8 * lo_open * sin_u ** 0.9
    eye_lm = []
    for k, side in enumerate((-1, 1)):
        x = side * (idp['eye_dx'] + ew - 2 * ew * uu)
        up, lo = np.column_stack([x, y_up]), np.column_stack([x, y_lo])
        P.add2(f'lid_up{k}', up[:9], -0.04)
        P.add2(f'lid_lo{k}', lo[:9], -0.04)
        lu, ll = up[9:], lo[9:]
        # iBUG: image-left eye outer, up, up, inner, low, low; image-right eye starts inner.
        eye_lm.append([lu[0], lu[1], lu[2], lu[3], ll[2], ll[1]] if side < 0 else
                      [lu[3], lu[2], lu[1], lu[0], ll[1], ll[2]])
        fold = up[:9].copy()
        fold[:, 1] -= eh * (0.55 + 0.35 * droop) * sin_u[:9] ** 0.5 + 0.01
        P.add2(f'fold{k}', fold, -0.04)
        gx, gy = p['gaze']
        P.add2(f'iris{k}', [[side * idp['eye_dx'] + gx * ew * 1.5, ey - eh * 0.15 + gy * 0.3 * eh]],
               -0.02)
    P.add2('eyes', np.array(eye_lm).reshape(12, 2), -0.04)

    # --- mouth 48..67 ---
    mw = idp['mouth_w'] * (1 + 0.35 * pull12 + 0.4 * str20 - 0.4 * rnd - 0.15 * press24)
    my = idp['mouth_y'] + 0.03 * jaw26
    corner_dy = -0.24 * pull12 + 0.2 * dep15 + 0.03 * str20
    thin = (1 - 0.65 * press24) * (1 - 0.3 * str20)
    ul = idp['lip_up'] * thin * (1 - 0.3 * pull12)
    ll_ = idp['lip_lo'] * thin * (1 - 0.2 * pull12)
    gap = 0.45 * jaw26 + 0.03 * str20
    if p['variant'] == 1 and p['label'] == 1:              # fear with a closed, stretched mouth
        gap = 0.0
    raise_up, pout = 0.13 * lip10, 0.05 * chin17
    m = _MOUTH_U
    one = 1 - m * m
    base = my + corner_dy * np.abs(m) ** 2.2
    w_open = one ** 0.7
    up_in = base - 0.12 * gap * w_open - raise_up * one ** 0.35
    lo_in = base + 0.88 * gap * w_open - pout * one
    up_out = up_in - ul * one ** 0.5 * (1 - 0.3 * np.exp(-(m / 0.16) ** 2)) - raise_up * 0.2 * one
    lo_out = lo_in + ll_ * one ** 0.6
    x = m * mw
    for name, arr in (('m_up_in', up_in), ('m_lo_in', lo_in), ('m_up_out', up_out),
                      ('m_lo_out', lo_out)):
        P.add2(name, np.column_stack([x[:15], arr[:15]]), 0.06)
    o, i = slice(15, 22), slice(22, 27)
    xo, xi = x[o], x[i]
    outer = np.concatenate([np.column_stack([xo, up_out[o]]),
                            np.column_stack([xo[5:0:-1], lo_out[o][5:0:-1]])])   # 48..59
    ui, li = up_in[i], lo_in[i]
    inner = np.array([[xi[0], (ui[0] + li[0]) / 2], [xi[1], ui[1]], [xi[2], ui[2]], [xi[3], ui[3]],
                      [xi[4], (ui[4] + li[4]) / 2], [xi[3], li[3]], [xi[2], li[2]], [xi[1], li[1]]])
    P.add2('mouth', np.concatenate([outer, inner]), 0.06)
    info['gap'] = gap

    # --- wrinkles and folds: (kind, strength, head-frame polyline), drawn when visible ---
    wr = []
    fore = max(brow1, brow2) * 0.9 + idp['age_lines'] * 0.3
    for j in range(2):
        xs = _FORE_X * (0.3 + 0.35 * brow2) / 0.55
        ys = (ey - idp['brow_h'] - 0.2 - 0.09 * j - 0.03 * np.cos(xs * 2)
              - 0.03 * brow1 * np.exp(-xs * xs / 0.05))
        wr.append(('fore', fore, np.column_stack([xs, ys])))
    s_nl = 0.8 * pull12 + 0.3 * lip10 + 0.5 * cheek6 + 0.15 * nose9 + idp['age_lines'] * 0.4
    for side in (-1, 1):
        ys = np.linspace(ey - idp['brow_h'] - 0.08, ey - 0.08, 4)
        wr.append(('glab', brow4 * 1.3, np.column_stack([side * (0.05 + 0.02 * (ys - ys[0])), ys])))
        cx_, cy_ = side * (mw + 0.06), my + corner_dy + 0.05
        wr.append(('nasolabial', s_nl, np.array(
            [[side * (nw * 1.2 + 0.03), base_y - 0.08], [side * (nw * 1.2 + 0.12), base_y + 0.05],
             [cx_, cy_ - 0.02], [cx_ * 0.98, cy_ + 0.12]])))
        for j in range(2):
            yy = ey + 0.12 + 0.07 * j
            wr.append(('nosewr', nose9 * 1.4, np.array(
                [[side * 0.03, yy], [side * 0.1, yy + 0.025], [side * 0.16, yy + 0.01]])))
        ox = side * (idp['eye_dx'] + ew + 0.03)
        for j in (-1, 0, 1):
            wr.append(('crow', cheek6 * 0.9, np.array([[ox, ey + 0.02 * j],
                                                       [ox + side * 0.08, ey + 0.05 * j]])))
        xs = side * idp['eye_dx'] + side * ew * (0.05 + 0.85 * _LIN5)
        wr.append(('undereye', cheek6 * 0.9 + lid7 * 0.4 + 0.1,
                   np.column_stack([xs, ey + eh * 0.9 + 0.05 + 0.03 * _SIN5])))
    xs = 0.13 * _LIN5
    wr.append(('chin', chin17 * 0.9,
               np.column_stack([xs, idp['chin_y'] - 0.22 + 0.4 * xs * xs + 0.32 * jaw26])))
    info['wrinkles'] = []
    for k, (kind, strength, pts2) in enumerate(wr):
        if strength > 0.08:
            P.add2(f'wr{k}', pts2, 0.1 if kind == 'nosewr' else 0.0)
            info['wrinkles'].append((f'wr{k}', min(strength, 1.0), kind))

    # ears (centre, top, bottom, outer rim)
    for k, side in enumerate((-1, 1)):
        x = side * idp['head_w'] * 0.98
        P.add3(f'ear{k}', [[x, ey + 0.2, -0.1], [x, ey - 0.05, -0.15], [x, ey + 0.5, -0.05],
                           [x + side * 0.15, ey + 0.2, -0.2]])
    return P, info


# ----------------------------------------------------------------------------------------------
# Drawing helpers (OpenCV with 4 fractional bits: coordinates × 16)
# ----------------------------------------------------------------------------------------------
_SH = 4
_F = 1 << _SH


def _ip(pts):
    """Float pixel coordinates → OpenCV fixed point (int32 × 16); int32 input is taken as is."""
    if isinstance(pts, np.ndarray) and pts.dtype == np.int32:
        return pts
    return np.rint(np.asarray(pts) * _F).astype(np.int32)


def _poly(img, pts, colour, aa=cv2.LINE_AA):
    cv2.fillPoly(img, [_ip(pts)], _col(colour), aa, _SH)


def _line(img, pts, colour, th, closed=False):
    """Anti-aliased polyline(s); ``pts`` is one (n, 2) array or a list of them."""
    pts = [_ip(x) for x in pts] if isinstance(pts, list) else [_ip(pts)]
    cv2.polylines(img, pts, closed, _col(colour), max(1, int(round(th))), cv2.LINE_AA, _SH)


def _ell(img, centre, axes, angle, colour, th=-1):
    """Anti-aliased ellipse with sub-pixel centre and axes."""
    c, a = _ip(centre), _ip(axes)
    cv2.ellipse(img, (int(c[0]), int(c[1])), (max(int(a[0]), 1), max(int(a[1]), 1)), float(angle), 0, 360,
                _col(colour), th, cv2.LINE_AA, _SH)


def _col(c):
    """A colour (scalar or sequence) as a list of floats clipped to [0, 255]."""
    if isinstance(c, (int, float)):
        return (min(255.0, max(0.0, float(c))),)
    if isinstance(c, np.ndarray):
        c = c.tolist()
    return [min(255.0, max(0.0, v)) for v in c]


def _mix(a, b, t):
    return np.asarray(a, np.float64) * (1 - t) + np.asarray(b, np.float64) * t


def _background(img, p):
    """Two-colour gradient plus 4–10 random shapes (rectangles, ellipses, bars, polygons)."""
    size = img.shape[0]
    lk = p['look']
    grad = np.repeat(np.asarray(lk['bg'], np.float32).reshape(2, 1, 3), 2, 1).astype(np.uint8)
    img[:] = cv2.resize(grad, (size, size), interpolation=cv2.INTER_LINEAR)
    rng = _keyed_rng(lk['bg_seed'])
    lo, hi = p['clutter']
    n = int(rng.integers(lo, hi + 1))
    kinds = rng.integers(4, size=n)
    cols = rng.uniform(0, 255, (n, 3)).tolist()
    geo = rng.uniform(0, 1, (n, 13))
    c = (geo[:, 0:2] * 1.2 - 0.1) * size
    r = (0.05 + 0.3 * geo[:, 2:4]) * size
    for j in range(n):
        kind, col = kinds[j], cols[j]
        if kind == 0:
            a, b = _ip(c[j] - r[j]).tolist(), _ip(c[j] + r[j]).tolist()
            cv2.rectangle(img, a, b, col, -1, cv2.LINE_AA, _SH)
        elif kind == 1:
            _ell(img, c[j], r[j], geo[j, 4] * 180, col)
        elif kind == 2:
            q = _ip(c[j] + (geo[j, 4:8].reshape(2, 2) - 0.5) * size).tolist()
            cv2.line(img, q[0], q[1], col, max(1, int((0.01 + 0.05 * geo[j, 8]) * size)),
                     cv2.LINE_AA, _SH)
        else:
            q = c[j] + (geo[j, 4:12].reshape(4, 2)[:3 + int(geo[j, 12] * 2)] * 2 - 1) * r[j]
            _poly(img, q, col)


def _ellipse_poly(centre, axes, angle_deg, n=24):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    a = np.deg2rad(angle_deg)
    ca, sa = np.cos(a), np.sin(a)
    x, y = axes[0] * np.cos(t), axes[1] * np.sin(t)
    return np.stack([centre[0] + ca * x - sa * y, centre[1] + sa * x + ca * y], 1)


def _arc_where(mask):
    """Indices of the longest circular run of True in ``mask`` (in order)."""
    n = len(mask)
    if mask.all():
        return np.arange(n)
    if not mask.any():
        return np.zeros(0, int)
    start = int(np.argmin(mask))          # a False position; runs start after it
    order = (np.arange(n) + start) % n
    m = mask[order]
    best, cur, best_s, cur_s = 0, 0, 0, 0
    for i, v in enumerate(m):
        if v:
            if cur == 0:
                cur_s = i
            cur += 1
            if cur > best:
                best, best_s = cur, cur_s
        else:
            cur = 0
    return order[best_s:best_s + best]


def _occluder(img, mask, p, lm, s, size):
    """Draw the occluder into ``img`` and its coverage into ``mask``; returns its kind."""
    o = p['occluder']
    kind = o['kind']
    eyes = [lm[36:42].mean(0), lm[42:48].mean(0)]
    eye_w = max(np.linalg.norm(lm[39] - lm[36]), np.linalg.norm(lm[45] - lm[42]), 0.12 * s)
    face_w = np.linalg.norm(lm[16] - lm[0]) + 1e-6
    col = o['colour']
    draws = []   # (kind, pts or ellipse)
    if kind in ('sunglasses', 'glasses'):
        th = max(1.0, size / 70)
        lens_col = col * 0.25 if kind == 'sunglasses' else col
        for e in eyes:
            lens = _ellipse_poly(e + [0, 0.05 * eye_w], (0.85 * eye_w * o['size'] + 0.1 * eye_w,
                                 0.62 * eye_w * o['size'] + 0.08 * eye_w),
                                 np.degrees(np.arctan2(*(eyes[1] - eyes[0])[::-1])))
            if kind == 'sunglasses':
                _poly(img, lens, lens_col)
                _poly(mask, lens, 255)
            _line(img, lens, lens_col * 0.6, th * 1.5, closed=True)
            _line(mask, lens, 255, th * 1.5, closed=True)
        bridge = np.array([eyes[0] + (eyes[1] - eyes[0]) * 0.3, eyes[0] + (eyes[1] - eyes[0]) * 0.7])
        _line(img, bridge, lens_col * 0.6, th * 1.5)
        for e, j in ((eyes[0], 0), (eyes[1], 16)):
            _line(img, np.array([e, lm[j] + (lm[j] - e) * 0.05]), lens_col * 0.6, th * 1.5)
    elif kind == 'mask':
        top = lm[29] + (lm[28] - lm[29]) * 0.3
        left, right = lm[1] + (lm[29] - lm[1]) * 0.08, lm[15] + (lm[29] - lm[15]) * 0.08
        chin = lm[8] + (lm[8] - lm[57]) * 0.15
        pts = np.array([left, lm[1] + (top - lm[1]) * 0.5 - (0, 0), top, lm[15] + (top - lm[15]) * 0.5,
                        right, lm[12], lm[10], chin, lm[6], lm[4]])
        mcol = [(235, 240, 245), (150, 200, 230), (40, 40, 45), col][o['tex']] if o['tex'] < 3 else col
        _poly(img, pts, mcol)
        _poly(mask, pts, 255)
        for j in range(3):   # pleats
            t = 0.35 + 0.15 * j
            a, b = left + (lm[4] - left) * t, right + (lm[12] - right) * t
            _line(img, np.array([a, (a + b) / 2 + (0, 0.04 * face_w), b]), _mix(mcol, (0, 0, 0), 0.2), 1)
        _line(img, np.array([left, lm[0]]), (230, 230, 230), max(1, size / 90))
        _line(img, np.array([right, lm[16]]), (230, 230, 230), max(1, size / 90))
    else:
        # region: 0 mouth, 1 left eye, 2 right eye, 3 nose/cheek
        centre = [lm[48:68].mean(0), eyes[0], eyes[1], lm[31:36].mean(0)][o['region']]
        centre = centre + o['offset'] * face_w
        r = face_w * 0.3 * o['size']
        if kind == 'hand':
            skin = o['skin']
            ang = o['angle'] + 90
            a = np.deg2rad(ang)
            d = np.array([np.cos(a), np.sin(a)])
            nrm = np.array([-d[1], d[0]])
            palm = _ellipse_poly(centre + d * r * 0.5, (r * 0.95, r * 0.75), ang)
            parts = [palm]
            for f in range(4):
                base = centre + d * r * 0.1 + nrm * (f - 1.5) * r * 0.42
                tip = base - d * r * (1.1 + 0.25 * np.cos((f - 1.5) * 0.9))
                parts.append(_ellipse_poly((base + tip) / 2, (r * 0.72, r * 0.2), ang))
            for k, part in enumerate(parts):
                _poly(img, part, skin * (0.95 if k % 2 else 1.0))
                _poly(mask, part, 255)
            for k in range(1, 4):   # gaps between fingers
                base = centre + d * r * 0.1 + nrm * (k - 2) * r * 0.42
                _line(img, np.array([base, base - d * r * 0.9]), skin * 0.7, 1)
        else:
            pts = _ellipse_poly(centre, (r, r * 0.75), o['angle'], 8 if o['tex'] != 1 else 24)
            if o['tex'] == 0:
                pts = _ellipse_poly(centre, (r * 1.1, r * 0.8), o['angle'] + 45, 4)
            _poly(img, pts, col)
            _poly(mask, pts, 255)
            if o['tex'] == 2:   # stripes
                for j in range(-2, 3):
                    c2 = centre + np.array([j * r * 0.3, 0])
                    _line(img, np.array([c2 - (0, r * 0.6), c2 + (0, r * 0.6)]), col * 0.5, max(1, size / 60))
    return kind


# ----------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------
def render(p: dict, size: int = 112) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
    """Render one sample.

    Drawing order (painter's algorithm): background clutter → long hair behind the head →
    clothes, neck → far ear → head (silhouette ellipse of the head ellipsoid + jaw polygon) →
    near ear → eyes (sclera, iris, lid bands that clip the iris, lid lines) → wrinkles → brows →
    nose → mouth (lips, mouth interior, teeth) → hair cap → occluder; then illumination gradient
    and colour cast, Gaussian blur, Gaussian noise and JPEG compression, all on the whole image.

    Args:
        p: parameters from :func:`sample_params`.
        size: output side in pixels (32 ≤ size ≤ 256); everything is drawn at this size.

    Returns:
        img: (size, size, 3) uint8, **RGB**.
        ann: ``landmarks`` (68, 2) float32 pixel (x, y); ``pose`` (3,) float32 degrees
        (yaw, pitch, roll); ``intensity``; ``label``; ``identity``; ``face_box`` (4,) float32
        (x1, y1, x2, y2) of the head outline (skin region, hair excluded); ``visible`` (68,)
        bool (the point faces the camera); ``occluded`` (68,) bool (under an occluder);
        ``occluder`` str ('none' or its kind); ``actions`` (len(ACTIONS),) float32.
    """
    if not 32 <= size <= 256:
        raise ValueError(f'size must be in [32, 256], got {size}')
    idp = p['id']
    yaw, pitch, roll = p['pose']
    R = rotation_matrix(yaw, pitch, roll)
    P, info = build_geometry(p)
    head_c = np.array([0.0, -0.3, 0.0])
    head_ax = np.array([idp['head_w'], idp['head_h'], 1.05])
    P.add3('sil', _ellipsoid_silhouette(head_c, head_ax, R, 36))
    hs = idp['hair_style']
    hair_ax = head_ax * np.array([1.06, 1.05, 1.06])
    # hair cap = ellipsoid ∩ {y − y0 + k·z < 0}: front hair line high, nape low
    y0, k = ((-1.25, 0.2), (-0.25, 0.75), (0.0, 0.55), (-0.15, 0.7), (-0.35, 0.75))[hs]
    nrm = np.array([0.0, 1.0, k])
    off = y0 - head_c[1]
    if hs:
        P.add3('hair_sil', _ellipsoid_silhouette(head_c, hair_ax, R, 36))
        cut = _plane_cut(head_c, hair_ax, nrm, off, 28)
        cut[:, 1] += idp['hair_wave'][0] * np.sin(np.arange(28) * idp['hair_wave'][1] + idp['hair_wave'][2])
        P.add3('hair_cut', cut)
    P.add3('long_hair', [[-1.2, -0.5, -0.4], [-1.25, 1.9, -0.6], [1.25, 1.9, -0.6], [1.2, -0.5, -0.4],
                         [0, -1.55, -0.5]])

    pts, sl = P.stack(idp)
    origin = np.array(ROT_ORIGIN)
    rot = (pts - origin) @ R.T
    s = size * FACE_SCALE * p['scale']
    q = size * (np.array(IMAGE_CENTRE) + p['shift']) + s * rot[:, :2]
    qi = np.rint(q * _F).astype(np.int32)        # OpenCV fixed-point coordinates
    lm_sl = [sl[n] for n in ('jaw', 'brow', 'nose', 'eyes', 'mouth')]
    lm = np.concatenate([q[x] for x in lm_sl])
    # a landmark faces the camera when the ellipsoid normal at its direction from the head
    # centre does (rotated z > −0.1: the contour points on the frontal outline stay visible
    # for small turns)
    nrm_lm = (np.concatenate([pts[x] for x in lm_sl]) - head_c) / head_ax ** 2
    lm_vis = (nrm_lm @ R[2]) / np.linalg.norm(nrm_lm, axis=1) > -0.1

    img = np.empty((size, size, 3), np.uint8)
    _background(img, p)
    skin = idp['skin'] * (0.92 + 0.05 * np.cos(np.deg2rad(yaw)))
    skin_l = _col(skin)
    hair = idp['hair']
    lw = size / 112.0
    jaw = q[sl['jaw']]
    lh = q[sl['long_hair']]

    # behind the head: long hair, bun, clothes, neck
    if hs == 3:
        top = q[sl['hair_sil']][q[sl['hair_sil']][:, 1].argmin()]
        _poly(img, np.array([lh[0], lh[1], lh[2], lh[3], top]), hair * 0.85)
    elif hs == 4:
        _ell(img, lh[4], (0.28 * s, 0.28 * s), 0, hair * 0.9)
    body_c = (size * (0.5 + p['shift'][0] * 0.5), size * 1.08)
    _ell(img, body_c, (2.1 * s, 0.8 * s), roll * 0.3, p['look']['clothes'])
    nb = (jaw[4] + jaw[12]) / 2
    _poly(img, np.array([jaw[4], jaw[12], [nb[0] + 0.6 * s, size * 1.1],
                         [nb[0] - 0.6 * s, size * 1.1]]), skin * 0.78)
    if hs == 3:   # strands of long hair in front of the shoulders
        _poly(img, np.array([lh[0], lh[1], (lh[1] + jaw[2]) / 2, jaw[2]]), hair * 0.8)
        _poly(img, np.array([lh[3], lh[2], (lh[2] + jaw[14]) / 2, jaw[14]]), hair * 0.8)

    # ears: an ear whose rim points away from the camera goes behind the head
    ears = []
    for k in (0, 1):
        e, ez = q[sl[f'ear{k}']], rot[sl[f'ear{k}'], 2]
        h = np.linalg.norm(e[2] - e[1]) / 2
        w = max(np.linalg.norm(e[3] - e[0]), 0.35 * h)
        ang = np.degrees(np.arctan2(e[2][1] - e[1][1], e[2][0] - e[1][0])) - 90
        ears.append((ez[3] < ez[0], e[0], (w, h), ang))

    def draw_ear(c, axes, ang):
        _ell(img, c, axes, ang, skin * 0.9)
        _ell(img, c, (axes[0] * 0.55, axes[1] * 0.65), ang, skin * 0.72, max(1, int(lw)))

    for front, c, axes, ang in ears:
        if not front:
            draw_ear(c, axes, ang)

    # head
    sil = q[sl['sil']]
    # head outline = convex hull of the cranium silhouette, the jaw, the outer lips and the nose
    # tip: under yaw the lower face and the nose stick out of the cranium ellipse
    sil = q[sl['sil']]
    outline = cv2.convexHull(np.concatenate([qi[sl['sil']], qi[sl['jaw']], qi[sl['mouth']][:12],
                                             qi[sl['nose']][3:4]]))
    cv2.fillConvexPoly(img, outline, skin_l, cv2.LINE_AA, _SH)
    # jaw shading along the visible part of the jaw line
    jv = np.flatnonzero(lm_vis[3:14]) + 3
    if len(jv) > 1:
        _line(img, qi[sl['jaw']][jv[0]:jv[-1] + 1], skin * 0.88, 1.4 * lw)
    for front, c, axes, ang in ears:
        if front:
            draw_ear(c, axes, ang)
    if idp['beard']:
        _poly(img, np.concatenate([jaw[3:14], q[sl['m_lo_out']][12:2:-1] + (0, 0.04 * s)]),
              _mix(skin, hair, 0.55))
    if idp['cheek_blush'] > 0.15:
        blush = _mix(skin, (230, 90, 90), 0.12 * idp['cheek_blush'])
        for c in (lm[[36, 39, 48]].mean(0), lm[[42, 45, 54]].mean(0)):
            _ell(img, c, (0.12 * s, 0.12 * s), 0, blush)

    # raised cheeks (AU6): highlighted cheek apples under the outer eye corners
    cheek = float(p['actions'][A['cheek_raise']])
    if cheek > 0.15:
        hl = _mix(skin, (255, 255, 255), 0.12 * cheek)
        for e, m in ((lm[41], lm[48]), (lm[46], lm[54])):
            _ell(img, e * 0.55 + m * 0.45 + (e - m) * (0.1, 0) , (0.14 * s, 0.1 * s), roll, hl)

    # eyes
    ri = max(0.43 * 0.5 * max(1.0, np.linalg.norm(lm[39] - lm[36]), np.linalg.norm(lm[45] - lm[42])), 1.2)
    ri_x = ri * max(0.45, np.cos(np.deg2rad(yaw)))
    cr, sr = np.cos(np.deg2rad(roll)), np.sin(np.deg2rad(roll))
    band = np.array([sr, -cr]) * ri * 2.2          # image "up" of the rolled face
    sclera, lid_line, lid_lo = (240, 236, 230), (25, 18, 15), skin * 0.7
    ups = [qi[sl['lid_up0']], qi[sl['lid_up1']]]
    los = [qi[sl['lid_lo0']], qi[sl['lid_lo1']]]
    cv2.fillPoly(img, [np.concatenate([ups[k], los[k][-2:0:-1]]) for k in (0, 1)], sclera,
                 cv2.LINE_AA, _SH)
    bi = _ip(band)
    for k in (0, 1):
        ic = q[sl[f'iris{k}']][0]
        _ell(img, ic, (ri_x, ri), roll, idp['iris'])
        _ell(img, ic, (ri_x * 0.45, ri * 0.45), roll, (15, 12, 12))
    cv2.fillPoly(img, [np.concatenate([u_, (u_ + bi)[::-1]]) for u_ in ups]
                 + [np.concatenate([l_, (l_ - bi)[::-1]]) for l_ in los], skin_l, cv2.LINE_AA, _SH)
    _line(img, [qi[sl['fold0']], qi[sl['fold1']]], skin * 0.75, lw)
    _line(img, ups, lid_line, 1.6 * lw)
    _line(img, los, lid_lo, lw)

    # wrinkles and folds, darker with their action's strength
    for name, strength, kind in info['wrinkles']:
        _line(img, qi[sl[name]], skin * (1 - 0.55 * strength), (1.0 + 0.6 * strength) * lw)

    cv2.fillPoly(img, [qi[sl['browp0']], qi[sl['browp1']]], _col(_mix(hair, (20, 15, 12), 0.3) * 0.9),
                 cv2.LINE_AA, _SH)

    # nose: bridge/tip/wing contour on the far side (filled over the far eye when turned), nostrils
    nose = lm[27:36]
    far = 1 if yaw >= 0 else 0
    wing = q[sl['nose_wing']][far]
    tip = nose[3]
    a_y = abs(yaw) / 60.0
    if a_y > 0.15:
        _poly(img, np.array([nose[0], tip, wing, nose[6]]), skin * (1.0 + 0.04 * a_y))
    _line(img, np.array([(nose[0] + nose[1]) / 2, nose[2], tip, wing, nose[8 if far else 4]]),
          skin * (0.82 - 0.15 * a_y), 1.1 * lw)
    _line(img, nose[4:9], skin * 0.62, 1.1 * lw)
    for j in (5, 7):
        _ell(img, nose[j] - (0, 0.005 * s), (0.035 * s, 0.018 * s), roll, skin * 0.35)
    _line(img, np.array([nose[1] + (0.03 * s, 0), nose[3] + (0.02 * s, -0.04 * s)]), skin * 1.08, 1.2 * lw)

    # mouth
    up_out, lo_out, up_in, lo_in = (qi[sl[n]] for n in ('m_up_out', 'm_lo_out', 'm_up_in', 'm_lo_in'))
    lip = idp['lip']
    _poly(img, np.concatenate([up_out, lo_out[::-1]]), lip)
    if info['gap'] > 0.025:
        _poly(img, np.concatenate([up_in, lo_in[::-1]]), (70, 20, 25))
        th = min(info['gap'] * s * 0.55, 0.07 * s) * _F
        if p['label'] != 0 or p['intensity'] < 0.4:      # upper teeth (surprise: a dark "O")
            _poly(img, np.concatenate([up_in, (up_in + (0, int(th)))[::-1]]), (235, 232, 220))
        if p['label'] in (1, 2, 5) and info['gap'] > 0.08:
            _poly(img, np.concatenate([lo_in, (lo_in - (0, int(th * 0.6)))[::-1]]), (225, 222, 210))
        _poly(img, np.concatenate([up_out, up_in[::-1]]), lip)
        _poly(img, np.concatenate([lo_out, lo_in[::-1]]), lip * 1.05)
        _line(img, up_in, _mix(lip, (40, 10, 10), 0.6), lw)
    else:
        _line(img, (up_in + lo_in) // 2, _mix(lip, (40, 10, 10), 0.6), lw)

    # hair cap over the forehead: the silhouette arc inside the cap + the visible part of the cut
    if hs:
        h_sil = (pts[sl['hair_sil']] - head_c) @ nrm < off
        arc = _arc_where(h_sil)
        cut3 = pts[sl['hair_cut']]
        vis = (((cut3 - head_c) / hair_ax ** 2) @ R[2]) > 0
        carc = _arc_where(vis)
        if len(arc) > 2 and len(carc) > 1:
            a_pts, c_pts = qi[sl['hair_sil']][arc], qi[sl['hair_cut']][carc]
            if np.linalg.norm(a_pts[-1] - c_pts[0]) > np.linalg.norm(a_pts[-1] - c_pts[-1]):
                c_pts = c_pts[::-1]
            _poly(img, np.concatenate([a_pts, c_pts]), hair)
            # a few strands from the crown towards the hair line
            crown = a_pts[len(a_pts) // 2]
            bend = np.array([0.02 * s * _F, 0], np.int32)
            _line(img, [np.array([crown, (crown + c_pts[j]) // 2 + bend, c_pts[j]])
                        for j in range(1, len(c_pts) - 1, 3)], hair * 0.75 + 8, lw)

    # occluder
    occluded = np.zeros(68, bool)
    kind = 'none'
    if p['occluder'] is not None:
        mask = np.zeros((size, size), np.uint8)
        kind = _occluder(img, mask, p, lm, s, size)
        ij = np.clip(np.round(lm).astype(int), 0, size - 1)
        occluded = mask[ij[:, 1], ij[:, 0]] > 0

    img = _degrade(img, p, lw)
    hull = outline.reshape(-1, 2) / _F
    face_box = np.concatenate([hull.min(0), hull.max(0)]).astype(np.float32)
    ann = dict(landmarks=lm.astype(np.float32), pose=np.array([yaw, pitch, roll], np.float32),
               intensity=float(p['intensity']), label=int(p['label']), identity=int(p['identity']),
               face_box=face_box, visible=lm_vis, occluded=occluded, occluder=kind,
               actions=np.asarray(p['actions'], np.float32))
    return img, ann


_NOISE = []


def _noise_bank() -> np.ndarray:
    """(512, 512, 3) float32 standard normal noise from a fixed seed (made once per process)."""
    if not _NOISE:
        _NOISE.append(np.random.default_rng(20240607).standard_normal((512, 512, 3), dtype=np.float32))
    return _NOISE[0]


def _degrade(img: np.ndarray, p: dict, lw: float) -> np.ndarray:
    """Illumination gradient × brightness × colour cast, then blur, noise and JPEG (RGB uint8).

    gain(x, y, c) = (1 + l·(cos θ·(x/W − ½) + sin θ·(y/H − ½))) · b · cast_c; OpenCV's saturating
    uint8 arithmetic does the multiply and the noise addition (4× faster than float numpy).
    """
    size = img.shape[0]
    lk, dg = p['look'], p['degrade']
    ramp = np.arange(size, dtype=np.float32) / np.float32(size) - np.float32(0.5)
    gain = (np.float32(1) + np.float32(lk['light'] * np.cos(lk['light_dir'])) * ramp[None, :]
            + np.float32(lk['light'] * np.sin(lk['light_dir'])) * ramp[:, None])
    gain3 = gain[:, :, None] * (lk['brightness'] * lk['cast']).astype(np.float32)
    img = cv2.multiply(img, gain3, dtype=cv2.CV_8U)
    if dg['blur'] > 0:
        img = cv2.GaussianBlur(img, (0, 0), dg['blur'] * lw)
    if dg['noise'] > 0:
        # a crop of a fixed bank of N(0, 1) noise at an offset drawn from the sample's seed:
        # the same distribution as fresh noise at a fraction of the cost
        bank = _noise_bank()
        oy, ox = _keyed_rng(dg['noise_seed']).integers(0, bank.shape[0] - size, 2)
        img = cv2.add(img, bank[oy:oy + size, ox:ox + size] * np.float32(dg['noise']), dtype=cv2.CV_8U)
    if dg['jpeg'] > 0:
        ok, buf = cv2.imencode('.jpg', img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, dg['jpeg']])
        if not ok:
            raise RuntimeError('OpenCV could not JPEG-encode a rendered SynthFER image')
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
    return np.ascontiguousarray(img)
