"""The picture of docs/inference.md: FERInferencer on rendered SynthFER faces.

    python docs/examples/inference_picture.py OUT.png [CONFIG [CHECKPOINT]] [--photo PATH]

Three SynthFER test faces (test split 1, 12 rotated by 15°, and 4 turned by 21°) pasted on a
480×240 canvas; on the left the RetinaFace detections with their 5 landmarks and predicted
classes, on the right each face's aligned crop (at the model's input size, shown at 224 px)
with the template points of ``mmfer.apis.RAFDB_TEMPLATE`` as green crosses and the warped
landmarks as red dots.
``--photo PATH`` uses a real photograph instead of the canvas (``--photo matplotlib``: the
public-domain portrait that ships with matplotlib, ``mpl-data/sample_data/grace_hopper.jpg``),
scaled to 240 px high; write such pictures outside the repository (no third-party photo, or
a picture of one, is committed here).
Default model: the tiny test config with constructor weights (the classes are then
meaningless; pass a trained SynthFER config and checkpoint for real ones).
"""
import os.path as osp
import sys

import cv2
import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def matplotlib_photo() -> str:
    import matplotlib
    return osp.join(matplotlib.get_data_path(), 'sample_data', 'grace_hopper.jpg')


def load_photo(path: str, height: int = 240) -> np.ndarray:
    """A BGR photograph scaled to ``height`` rows (``'matplotlib'``: :func:`matplotlib_photo`)."""
    path = matplotlib_photo() if path == 'matplotlib' else path
    img = cv2.imread(path)
    if img is None:
        raise FileNotFoundError(f'inference_picture: cannot read the photo {path!r}')
    w = int(round(img.shape[1] * height / img.shape[0]))
    return cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(__doc__)
        return
    photo = None
    if '--photo' in argv:
        i = argv.index('--photo')
        if i + 1 >= len(argv):
            raise SystemExit('inference_picture: --photo needs a path (or matplotlib)')
        photo = argv[i + 1]
        del argv[i:i + 2]
    out = argv[0]
    config = argv[1] if len(argv) > 1 else osp.join(ROOT, 'tests/data/configs/tiny_synthfer.py')
    ckpt = argv[2] if len(argv) > 2 else None
    from mmfer.apis import RAFDB_TEMPLATE, FERInferencer, draw_faces
    from mmfer.apis.face_align import similarity_matrix
    from mmfer.datasets.synthfer_render import render, sample_params
    canvas = np.full((240, 480, 3), 70, np.uint8)
    for k, (i, angle) in enumerate([] if photo else [(1, 0), (12, 15), (4, 0)]):
        face = np.ascontiguousarray(render(sample_params(0, i, split='test'),
                                           size=128)[0][..., ::-1])
        if angle:
            m = cv2.getRotationMatrix2D((64, 64), angle, 1.0)
            face = cv2.warpAffine(face, m, (128, 128), borderMode=cv2.BORDER_REPLICATE)
        x, y = 24 + 152 * k, 40 + 30 * (k % 2) - 20
        canvas[y:y + 128, x:x + 128] = face
    if photo:
        canvas = load_photo(photo)
    fer = FERInferencer(config, ckpt, detector='retinaface')
    size = fer.input_size[0]
    (res,) = fer([canvas])
    left = draw_faces(canvas, res['faces'])
    det = fer.detect(canvas)
    crops = fer.crop_faces(canvas, det)
    tiles = []
    for crop, lm in zip(crops, det.landmarks):
        tile = cv2.resize(crop, (224, 224), interpolation=cv2.INTER_NEAREST)
        m = similarity_matrix(lm, fer.input_size)
        warped = (lm @ m[:, :2].T + m[:, 2]) * 224 / size
        for tx, ty in RAFDB_TEMPLATE * 224:
            cv2.drawMarker(tile, (int(tx), int(ty)), (0, 255, 0), cv2.MARKER_CROSS, 14, 2)
        for wx, wy in warped:
            cv2.circle(tile, (int(round(wx)), int(round(wy))), 3, (0, 0, 255), -1)
        tiles.append(tile)
    right = np.full((240, 8 + 232 * max(1, len(tiles)), 3), 255, np.uint8)
    for k, tile in enumerate(tiles):
        right[8:232, 8 + 232 * k:232 + 232 * k] = tile
    pic = np.concatenate([left, np.full((240, 8, 3), 255, np.uint8), right], 1)
    cv2.imwrite(out, pic)
    print(f'{len(res["faces"])} faces; wrote {out} ({pic.shape[1]}×{pic.shape[0]})')


if __name__ == '__main__':
    main()
