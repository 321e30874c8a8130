"""Tiny models for the analysis-tool tests (imported by the test configs via ``custom_imports``;
the tests put ``tests/data`` on ``PYTHONPATH`` — a site-packages ``tests`` package shadows
``tests.data``, hence the flat module name).

- ``TinyConvBackbone``: one Conv2d(3→4, k3, pad 1, bias), so MACs are hand-computable:
  H·W·4·3·9 per image.
- ``TinyTwoBranchClassifier``: a FERClassifier whose training forward takes N×V×3×H×W (V =
  ``num_branches``) and runs a training-only ``cross`` module, like QCS; its inference forward
  (``mode='tensor'``) is the plain single-image path, so ``cross`` must cost nothing there.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmfer.models.classifiers.fer_classifier import FERClassifier
from mmfer.models.targets import gather_targets
from mmfer.registry import MODELS


@MODELS.register_module(force=True)
class TinyConvBackbone(BaseModule):
    """x (N×3×H×W) → (conv(x),) with conv = Conv2d(3, out_channels, 3, padding=1)."""

    def __init__(self, out_channels: int = 4, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.conv = nn.Conv2d(3, out_channels, 3, padding=1)

    def forward(self, x):
        return (self.conv(x), )


@MODELS.register_module(force=True)
class TinyTwoBranchClassifier(FERClassifier):
    """Training: inputs N×V×3×H×W → V branches through backbone/neck/head, CE on every branch
    plus a 'cross' term from a training-only Linear(D→D) between branch 0 and 1 features.
    Inference: one image N×3×H×W through backbone/neck/head only.  Training also reads the
    per-sample field ``aux_label`` (like QCS's ``neg_label``), declared in
    ``train_label_fields`` so that tools/analysis/benchmark.py fills it."""

    train_label_fields = ('aux_label', )

    def __init__(self, *args, num_branches: int = 2, feat_dim: int = 64, **kwargs):
        super().__init__(*args, **kwargs)
        self.num_branches = num_branches
        self.cross = nn.Linear(feat_dim, feat_dim)  # training only

    def loss(self, inputs, data_samples):
        if inputs.dim() != 5 or inputs.size(1) != self.num_branches:
            raise ValueError(f'expected N×{self.num_branches}×3×H×W, got {tuple(inputs.shape)}')
        n, v = inputs.shape[:2]
        feats = self.extract_feat(inputs.flatten(0, 1))
        logits = self.head(feats)
        targets = gather_targets(data_samples, ('gt_label', 'aux_label'), device=logits.device)
        target, aux = targets['gt_label'], targets['aux_label']
        assert aux.shape == target.shape
        f = feats['feat'].view(n, v, -1)
        cross = F.mse_loss(self.cross(f[:, 0]), f[:, 1].detach())
        return dict(loss_ce=F.cross_entropy(logits, target.repeat_interleave(v)),
                    loss_cross=cross)
