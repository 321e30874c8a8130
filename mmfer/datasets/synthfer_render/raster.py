"""Rasterisation of the SynthFER renderer: OpenCV drawing of a projected face, then the image
degradations.

:func:`render` draws the face of :func:`~.geometry.project_face` with anti-aliased OpenCV
primitives at 4 fractional bits (coordinates × 16), in painter's order, then applies the
illumination gradient, colour cast, blur, noise and JPEG compression of the sample
(:func:`_degrade`).  Only integer OpenCV drawing and JPEG coding touch the pixels, so an image is
the same bytes on every machine for the same numpy / OpenCV versions.
"""
from typing import Dict, Tuple

import cv2
import numpy as np

from .geometry import project_face
from .params import A
from .rng import _keyed_rng

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
    face = project_face(p, size)
    sl, q, rot, s, lm, lm_vis, info = (face.sl, face.q, face.rot, face.s, face.landmarks,
                                       face.visible, face.info)
    hs = idp['hair_style']
    qi = np.rint(q * _F).astype(np.int32)        # OpenCV fixed-point coordinates

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
        arc, carc = face.hair_arc, face.cut_arc
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
