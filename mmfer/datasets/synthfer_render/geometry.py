"""Geometry of the SynthFER renderer: 3-D head-frame points, their projection and the landmarks.

The face lives in a head frame (x to the image right, y down, z towards the camera; unit = half
the head width).  Every drawn point (the 68 landmarks plus the denser curves used for drawing:
eyelids, lips, hair line, silhouettes) is a 3-D point ``p`` built from the identity shape and the
facial actions (:func:`build_geometry`), then projected with one matrix product (weak
perspective, :func:`project_face`)::

    q = c + s · (R(roll) · R(pitch) · R(yaw) · (p − o))[:2]

with ``o`` the rotation centre (:data:`ROT_ORIGIN`), ``s`` the scale in pixels per unit
(``size · FACE_SCALE · scale``) and ``c`` the image position of ``o``
(``size · (IMAGE_CENTRE + shift)``).  Angles: positive yaw turns the nose towards the image right
(+x), positive pitch lifts the chin (nose tip moves up, −y), positive roll turns the face
clockwise in the image.  Landmarks are the projected 3-D points (like 300W-LP / AFLW2000-3D
"3-D landmarks"): a point on the far side of a turned head keeps its projected position and is
flagged as not visible.
"""
from typing import NamedTuple, Tuple

import numpy as np

# Projection q = size·(IMAGE_CENTRE + shift) + size·FACE_SCALE·scale·(R·(p − ROT_ORIGIN))[:2]:
# one head unit (half the head width) spans FACE_SCALE of the image, as tight as RAF-DB's
# aligned crops.
FACE_SCALE = 0.43
ROT_ORIGIN = (0.0, 0.15, -0.25)
IMAGE_CENTRE = (0.5, 0.47)

# Landmark index groups (iBUG 68).
JAW = np.arange(0, 17)
NOSE_TIP = 30


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


# hair line per hair style (bald, short, fringe, long, bun): the cap is the hair ellipsoid cut by
# the plane y − y0 + k·z < 0 (front hair line high, nape low)
_HAIR_PLANES = ((-1.25, 0.2), (-0.25, 0.75), (0.0, 0.55), (-0.15, 0.7), (-0.35, 0.75))
_LANDMARK_GROUPS = ('jaw', 'brow', 'nose', 'eyes', 'mouth')   # iBUG 0..16, 17..26, ... 48..67


class ProjectedFace(NamedTuple):
    """One face after :func:`project_face` (N head-frame points, all image units in pixels).

    - ``R`` (3, 3) head rotation; ``pts`` (N, 3) head-frame points; ``sl`` {group: slice into
      them}; ``rot`` (N, 3) = (pts − ROT_ORIGIN)·Rᵀ; ``s`` pixels per head unit;
    - ``q`` (N, 2) float64 image points; ``landmarks`` (68, 2) float64, iBUG order;
    - ``visible`` (68,) bool, the landmark faces the camera;
    - ``info`` the per-face drawing values of :func:`build_geometry` (mouth gap, wrinkles);
    - ``head_c`` / ``head_ax`` centre and semi-axes of the head ellipsoid;
    - ``hair_arc`` / ``cut_arc``: indices of the hair silhouette points inside the hair cap and
      of the visible part of the hair line (``None`` when bald).
    """
    R: np.ndarray
    pts: np.ndarray
    sl: dict
    rot: np.ndarray
    s: float
    q: np.ndarray
    landmarks: np.ndarray
    visible: np.ndarray
    info: dict
    head_c: np.ndarray
    head_ax: np.ndarray
    hair_arc: object
    cut_arc: object


def project_face(p: dict, size: int) -> ProjectedFace:
    """All head-frame points of the face of parameters ``p`` (:func:`build_geometry` plus the head
    and hair silhouettes as seen under the pose, the hair line and the long-hair outline), projected
    to a ``size``-pixel image, with the 68 landmarks and their visibility.

    A landmark faces the camera when the ellipsoid normal at its direction from the head centre
    does: rotated z of the normal > −0.1 (the contour points on the frontal outline stay visible
    for small turns).
    """
    idp = p['id']
    yaw, pitch, roll = p['pose']
    R = rotation_matrix(yaw, pitch, roll)
    P, info = build_geometry(p)
    head_c = np.array([0.0, -0.3, 0.0])
    head_ax = np.array([idp['head_w'], idp['head_h'], 1.05])
    P.add3('sil', _ellipsoid_silhouette(head_c, head_ax, R, 36))
    hs = idp['hair_style']
    hair_ax = head_ax * np.array([1.06, 1.05, 1.06])
    y0, k = _HAIR_PLANES[hs]
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
    lm_sl = [sl[n] for n in _LANDMARK_GROUPS]
    lm = np.concatenate([q[x] for x in lm_sl])
    nrm_lm = (np.concatenate([pts[x] for x in lm_sl]) - head_c) / head_ax ** 2
    lm_vis = (nrm_lm @ R[2]) / np.linalg.norm(nrm_lm, axis=1) > -0.1

    hair_arc = cut_arc = None
    if hs:
        # the silhouette arc inside the cap + the part of the hair line facing the camera
        hair_arc = _arc_where((pts[sl['hair_sil']] - head_c) @ nrm < off)
        cut3 = pts[sl['hair_cut']]
        cut_arc = _arc_where((((cut3 - head_c) / hair_ax ** 2) @ R[2]) > 0)
    return ProjectedFace(R=R, pts=pts, sl=sl, rot=rot, s=s, q=q, landmarks=lm, visible=lm_vis,
                         info=info, head_c=head_c, head_ax=head_ax, hair_arc=hair_arc,
                         cut_arc=cut_arc)
