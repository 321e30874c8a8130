"""SynthFER renderer: procedural expressive faces drawn with OpenCV primitives (numpy + OpenCV,
no torch), in three layers:

* :mod:`.params` — :func:`sample_params` draws every random choice of one sample from keyed
  generators (:mod:`.rng`: PCG64 states hashed from ``(seed, split_id, index, stream)``), so
  sample ``index`` never depends on another sample, on the process that draws it, or on a global
  RNG; :func:`sample_meta` is its cheap part (label, identity, intensity, pose, occluder kind);
* :mod:`.geometry` — :func:`build_geometry` builds the 3-D head-frame points (68 iBUG landmarks
  and the drawing curves) from the identity shape and the facial actions, :func:`project_face`
  projects them under the pose (weak perspective) and flags the visible landmarks;
* :mod:`.raster` — :func:`render` turns the parameters into ``(img, ann)``: an RGB ``uint8``
  image of shape ``(size, size, 3)`` and its ground truth (landmarks, pose, intensity, identity,
  face box, visibility / occlusion flags, actions).

Every name below is importable from ``mmfer.datasets.synthfer_render`` as it was when the
renderer was one file.
"""
from .geometry import (FACE_SCALE, IMAGE_CENTRE, JAW, NOSE_TIP, ROT_ORIGIN, ProjectedFace,
                       build_geometry, project_face, rotation_matrix)
from .params import (A, ACTIONS, CLASSES, DEFAULT_INTENSITY, DEFAULT_NUISANCE,
                     DEFAULT_NUM_IDENTITIES, HAIR_COLOURS, IDENTITY_OFFSETS, IRIS_COLOURS, NEUTRAL,
                     NUM_CLASSES, OCCLUDERS, PROTOTYPES, RAFDB_TRAIN_COUNTS, SKIN_TONES, SPLIT_IDS,
                     STRONG_OCCLUDERS, WEAK_INTENSITY, identity_params, sample_intensity,
                     sample_meta, sample_params, sample_rng)
from .raster import render
from .rng import _keyed_rng

__all__ = [
    'A', 'ACTIONS', 'CLASSES', 'DEFAULT_INTENSITY', 'DEFAULT_NUISANCE', 'DEFAULT_NUM_IDENTITIES',
    'FACE_SCALE', 'HAIR_COLOURS', 'IDENTITY_OFFSETS', 'IMAGE_CENTRE', 'IRIS_COLOURS', 'JAW',
    'NEUTRAL', 'NOSE_TIP', 'NUM_CLASSES', 'OCCLUDERS', 'PROTOTYPES', 'ProjectedFace',
    'RAFDB_TRAIN_COUNTS', 'ROT_ORIGIN', 'SKIN_TONES', 'SPLIT_IDS', 'STRONG_OCCLUDERS',
    'WEAK_INTENSITY', 'build_geometry', 'identity_params', 'project_face', 'render',
    'rotation_matrix', 'sample_intensity', 'sample_meta', 'sample_params', 'sample_rng'
]
