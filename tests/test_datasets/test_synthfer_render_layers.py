"""The layers of mmfer/datasets/synthfer_render/: the names every importer uses resolve from the
package, project_face gives render's landmarks, sample_meta is sample_params' cheap part."""
import numpy as np
import pytest

import mmfer.datasets.synthfer_render as sr
from mmfer.datasets.synthfer_render import project_face, render, sample_meta, sample_params
from mmfer.datasets.synthfer_render.geometry import ProjectedFace


def test_public_names_resolve():
    # the names imported by mmfer/, tools/ and tests/ when the renderer was one file
    used = ('A', 'CLASSES', 'DEFAULT_NUM_IDENTITIES', 'FACE_SCALE', 'IMAGE_CENTRE', 'NEUTRAL',
            'NUM_CLASSES', 'RAFDB_TRAIN_COUNTS', 'ROT_ORIGIN', 'SPLIT_IDS', 'STRONG_OCCLUDERS',
            'WEAK_INTENSITY', 'build_geometry', 'render', 'rotation_matrix', 'sample_meta',
            'sample_params', 'DEFAULT_NUISANCE', 'DEFAULT_INTENSITY', '_keyed_rng')
    missing = [n for n in used + tuple(sr.__all__) if not hasattr(sr, n)]
    assert missing == []
    assert len(sr.__all__) == 33


def test_project_face_matches_render():
    p = sample_params(0, 5, 3, split='test', min_abs_yaw=45.0)
    face = project_face(p, 96)
    assert isinstance(face, ProjectedFace)
    img, ann = render(p, 96)
    assert face.landmarks.shape == (68, 2)
    np.testing.assert_array_equal(face.landmarks.astype(np.float32), ann['landmarks'])
    np.testing.assert_array_equal(face.visible, ann['visible'])
    assert abs(p['pose'][0]) > 45 and 0 < face.visible.sum() < 68   # a turned head hides some
    # scale: pixels per head unit = size · FACE_SCALE · scale
    assert face.s == pytest.approx(96 * sr.FACE_SCALE * p['scale'])


def test_sample_meta_is_the_cheap_part():
    opts = dict(split='val', occlusion='strong', nuisance=dict(yaw_std=30.0))
    full = sample_params(2, 7, 4, **opts)
    meta = sample_meta(2, 7, 4, **opts)
    assert meta == dict(label=4, identity=full['identity'], intensity=full['intensity'],
                        pose=full['pose'], occluder=full['occluder']['kind'])
    assert meta['identity'] >= 1_000_000      # val identities
    with pytest.raises(TypeError, match=r"unknown arguments \['yaw'\]"):
        sample_meta(0, 0, yaw=3)
