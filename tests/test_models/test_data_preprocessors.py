"""MultiViewDataPreprocessor (data_preprocessors.py): per-view normalisation and BGR→RGB of
N×V×3×H×W inputs, list-of-views and single-view batches (moved from test_quadruplet.py)."""
import torch

from mmfer.registry import MODELS


def test_multiview_data_preprocessor():
    pre = MODELS.build(dict(type='MultiViewDataPreprocessor', mean=[1., 2., 3.],
                            std=[2., 2., 2.], to_rgb=True))
    torch.manual_seed(0)
    views = [torch.randint(0, 255, (4, 3, 5, 5), dtype=torch.uint8) for _ in range(2)]
    out = pre(dict(inputs=views, data_samples=None), training=True)['inputs']
    assert out.shape == (2, 4, 3, 5, 5)
    x = views[1][2].float().flip(0)  # BGR → RGB per view
    ref = (x - torch.tensor([1., 2., 3.]).view(3, 1, 1)) / 2
    assert torch.allclose(out[1, 2], ref)
    # a stacked N×V×3×H×W tensor and single-view samples
    assert torch.allclose(pre(dict(inputs=torch.stack(views)), True)['inputs'], out)
    single = pre(dict(inputs=[v[0] for v in views]), False)['inputs']
    assert single.shape == (2, 3, 5, 5) and torch.allclose(single, out[:, 0])
