"""Parameter sampling of the SynthFER renderer: every random choice of one sample, no drawing.

:func:`sample_params` draws all parameters of sample ``index`` from one keyed generator per group
of parameters (*stream*: label/identity, expression, pose, appearance, occlusion, degradation;
:func:`sample_rng`), so conditioning one group (e.g. a pose subset) leaves the other groups of that
sample unchanged; :func:`identity_params` draws the face shape and colours of an identity (the same
for all its samples). :func:`sample_meta` is the cheap part (label, identity, intensity, pose,
occluder kind) that :class:`~mmfer.datasets.SynthFER` records per entry without rendering.

Expressions (RAF-DB order, :data:`CLASSES`) are prototypes over facial actions (FACS-like AUs,
:data:`ACTIONS`); an action value = prototype weight × intensity × jitter, plus small idle
activations and an identity-specific resting face, so weak expressions approach Neutral and Fear
shares most actions with Surprise.
"""
import functools
import inspect
from typing import Optional, Tuple

import numpy as np

from .rng import _keyed_rng, _pcg_state

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


def sample_rng(seed: int, split: str, index: int, stream: int) -> np.random.Generator:
    """The RNG of one parameter group of one sample, keyed by (seed, split, index, stream).

    Valid until the next call in the same thread (see :func:`_keyed_rng`).
    """
    return _keyed_rng(seed, SPLIT_IDS[split], index, stream)




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


def _truncated_normal(rng, std, lo, hi):
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


def _draw(full: bool, seed, index, label, split, num_identities, intensity_range, min_abs_yaw,
          occlusion, nuisance, intensity_cfg) -> dict:
    """The draws of :func:`sample_params` (``full``) or of :func:`sample_meta` (not ``full``):
    the same streams in the same order, the meta record stopping after the scalars it keeps.

    A stream's generator is shared per thread (:func:`sample_rng`), so each group's draws follow
    its ``sample_rng`` call without another stream opened in between.
    """
    nz, icfg = _options(split, nuisance, intensity_cfg)
    label, identity = _draw_identity(sample_rng(seed, split, index, _S_LABEL), label, split,
                                     num_identities)

    r = sample_rng(seed, split, index, _S_EXPR)
    intensity = sample_intensity(r, label, intensity_range, icfg)
    if full:
        idp = identity_params(int(seed), identity)    # its own generator: r is not disturbed
        actions, variant = _sample_expression(r, label, intensity, idp['rest_corner'],
                                              idp['rest_brow'])
        gaze = r.normal(0, 0.025, 2)

    r = sample_rng(seed, split, index, _S_POSE)
    yaw, pitch, roll = _draw_pose(r, nz, min_abs_yaw)
    if full:
        scale = float(1 + r.uniform(-1, 1) * nz['scale_jitter'])
        shift = r.uniform(-1, 1, 2) * nz['shift_jitter']

    r = sample_rng(seed, split, index, _S_OCC)
    kind = _draw_occluder_kind(r, nz, occlusion)
    if not full:
        return dict(label=label, identity=identity, intensity=intensity, pose=(yaw, pitch, roll),
                    occluder=kind or 'none')
    occ = None
    if kind is not None:
        occ = dict(kind=kind, region=int(r.integers(4)), size=float(r.uniform(0.75, 1.15)),
                   angle=float(r.uniform(-35, 35)), offset=r.uniform(-0.12, 0.12, 2),
                   colour=r.uniform(0, 255, 3), tex=int(r.integers(3)),
                   skin=idp['skin'] * r.uniform(0.85, 1.1))

    r = sample_rng(seed, split, index, _S_LOOK)
    look = dict(bg_seed=int(r.integers(2**31)),
                bg=r.uniform(30, 230, (2, 3)),
                clothes=r.uniform(20, 230, 3),
                light_dir=float(r.uniform(0, 2 * np.pi)),
                light=float(r.uniform(0, nz['light_strength'])),
                brightness=float(r.uniform(0.7, 1.25)),
                cast=r.uniform(0.88, 1.12, 3))

    r = sample_rng(seed, split, index, _S_DEGRADE)
    degrade = dict(
        blur=float(r.uniform(0.3, nz['blur_max'])) if r.random() < nz['blur_prob'] else 0.0,
        noise=float(r.uniform(2, nz['noise_max'])) if r.random() < nz['noise_prob'] else 0.0,
        jpeg=int(r.integers(nz['jpeg_min'], 96)) if r.random() < nz['jpeg_prob'] else 0,
        noise_seed=int(r.integers(2**31)))
    return dict(label=label, intensity=intensity, identity=identity, id=idp, actions=actions,
                variant=variant, gaze=gaze, pose=(yaw, pitch, roll), scale=scale, shift=shift,
                look=look, occluder=occ, degrade=degrade, clutter=nz['clutter'])


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
    return _draw(True, seed, index, label, split, num_identities, intensity_range, min_abs_yaw,
                 occlusion, nuisance, intensity_cfg)


# keyword arguments of sample_params after ``label`` and their defaults, in order
_OPTIONS = {k: v.default for k, v in inspect.signature(sample_params).parameters.items()
            if k not in ('seed', 'index', 'label')}


def sample_meta(seed: int, index: int, label: Optional[int] = None, **options) -> dict:
    """The cheap part of :func:`sample_params` (same arguments: ``options`` are its keyword
    arguments ``split`` … ``intensity_cfg``; same values): label, identity, intensity,
    yaw/pitch/roll and the occluder kind ('none' if none), without the identity's appearance,
    the actions or anything else.  About 10× faster than :func:`sample_params`."""
    unknown = set(options) - set(_OPTIONS)
    if unknown:
        raise TypeError(f'sample_meta: unknown arguments {sorted(unknown)}; known: '
                        f'{list(_OPTIONS)}')
    return _draw(False, seed, index, label, *{**_OPTIONS, **options}.values())
