"""MultiViewClassifier: training on N×V×3×H×W batches, inference on the base network alone.

Data flow of one training step (docs/framework.md has the diagram)::

    inputs N×V×3×H×W ──► base network per view (backbone [+ aux nets] → neck)   feats[v]
         │                 branch_bn='separate': one call per view (BatchNorm statistics
         │                 per view, the official QCS / EAC behaviour); 'joint': one call
         │                 on all N·V images
         ├─► head.loss_views(feats, targets)          → the head's losses on their views
         └─► cross_neck(feats) → cross feats[v]        (optional training-only stage)
               └─► cross_head.loss_views(cross feats, targets) → its losses

    targets[v] = the batch targets with gt_label := field view_label_fields[v]
                 (e.g. QCS: gt_label, gt_label, neg_label, neg_label)

Every loss says on which views it applies (``views=``) and how they combine
(``view_reduction=``), or compares views (``multi_view`` losses) — all config. At inference
(``mode='tensor'`` / ``'predict'`` on N×3×H×W) only backbone → neck → head run, at the base
network's cost; :meth:`inference_model` returns that network as a plain
:class:`FERClassifier` sharing the modules.
"""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmpretrain.structures import DataSample

from mmfer.models.classifiers.fer_classifier import FERClassifier
from mmfer.models.data_preprocessors import MultiViewDataPreprocessor
from mmfer.models.targets import gather_targets, view_targets
from mmfer.registry import MODELS

BRANCH_BN = ('separate', 'joint')


def split_views(value, n: int, v: int, i: int):
    """View i of a tensor (or tuple of tensors) whose batch axis holds N·V items (n-major)."""
    if isinstance(value, torch.Tensor):
        return value.unflatten(0, (n, v))[:, i]
    if isinstance(value, (tuple, list)):
        return type(value)(split_views(x, n, v, i) for x in value)
    return value


@MODELS.register_module()
class MultiViewClassifier(FERClassifier):
    """A base FER network trained on V views per sample, with an optional training-only stage.

    Args:
        backbone, neck, head, aux_nets: the base network, as for :class:`FERClassifier`.
        num_views (int): V, the view axis of training batches.
        view_label_fields (sequence[str], optional): per view, the data-sample field used as
            that view's ``gt_label`` (default: ``gt_label`` for every view).
        branch_bn (str): ``'separate'`` (default) or ``'joint'``, see the module docstring.
        cross_neck (dict, optional): a training-only module called with the list of per-view
            feature dicts; it returns one dict per view (at least ``feat``).
        cross_head (dict, optional): the head (with its own losses) on the cross stage's
            per-view ``feat``; required with ``cross_neck``.
        data_preprocessor (dict, optional): default :class:`MultiViewDataPreprocessor`
            (required type: it or a subclass).
        pretrained (str | dict, optional): as for :class:`FERClassifier`.
    """

    def __init__(self, backbone: dict, head: dict, neck: Optional[dict] = None,
                 num_views: int = 2, view_label_fields: Optional[Sequence[str]] = None,
                 branch_bn: str = 'separate', cross_neck: Optional[dict] = None,
                 cross_head: Optional[dict] = None, aux_nets: Optional[Dict[str, dict]] = None,
                 data_preprocessor: Optional[dict] = None, pretrained=None,
                 init_cfg: Optional[dict] = None):
        if num_views < 1:
            raise ValueError(f'{type(self).__name__}: num_views must be ≥ 1, got {num_views}')
        if branch_bn not in BRANCH_BN:
            raise ValueError(f'{type(self).__name__}: branch_bn={branch_bn!r} is not one of '
                             f'{list(BRANCH_BN)}')
        if view_label_fields is not None and len(view_label_fields) != num_views:
            raise ValueError(f'{type(self).__name__}: {len(view_label_fields)} view_label_fields '
                             f'for {num_views} views')
        if (cross_neck is None) != (cross_head is None):
            raise ValueError(f'{type(self).__name__}: cross_neck and cross_head go together '
                             '(the cross stage needs a head with its losses, and vice versa)')
        data_preprocessor = dict(data_preprocessor or {})
        data_preprocessor.setdefault('type', 'MultiViewDataPreprocessor')
        self._base_cfg = copy.deepcopy(dict(backbone=backbone, neck=neck, head=head,
                                            aux_nets=aux_nets,
                                            data_preprocessor=data_preprocessor))
        super().__init__(backbone=backbone, head=head, neck=neck, aux_nets=aux_nets,
                         data_preprocessor=data_preprocessor, pretrained=pretrained,
                         init_cfg=init_cfg)
        if not isinstance(self.data_preprocessor, MultiViewDataPreprocessor):
            raise TypeError(f'{type(self).__name__} needs data_preprocessor of type '
                            'MultiViewDataPreprocessor (inputs are N×V×3×H×W); got '
                            f'{type(self.data_preprocessor).__name__}')
        self.num_views = num_views
        self.view_label_fields = None if view_label_fields is None else tuple(view_label_fields)
        self.branch_bn = branch_bn
        self.cross_neck = MODELS.build(cross_neck) if cross_neck is not None else None
        self.cross_head = MODELS.build(cross_head) if cross_head is not None else None

    # ------------------------------------------------------------------------------------------
    def loss_heads(self) -> list:
        return [self.head] + ([self.cross_head] if self.cross_head is not None else [])

    @property
    def target_fields(self) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
        """(required, optional) data-sample fields: the heads' losses' and the view labels."""
        required, optional = [], []
        for head in self.loss_heads():
            r, o = head.target_fields
            required += r
            optional += o
        required += list(self.view_label_fields or ())
        required = list(dict.fromkeys(required))
        return tuple(required), tuple(f for f in dict.fromkeys(optional) if f not in required)

    @property
    def train_label_fields(self) -> Tuple[str, ...]:
        return tuple(f for f in self.target_fields[0] if f != 'gt_label')

    # ------------------------------------------------------------------------------------------
    # inference = the base network
    def forward(self, inputs: torch.Tensor, data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        if mode in ('tensor', 'predict') and inputs.dim() != 4:
            raise ValueError(f'{type(self).__name__}: inference runs the base network on '
                             f'N×3×H×W images, got {tuple(inputs.shape)}; evaluate with a '
                             'plain (single-view) dataset and test pipeline')
        return super().forward(inputs, data_samples, mode)

    def inference_model(self) -> FERClassifier:
        """A :class:`FERClassifier` that *shares* this model's base modules (no copy): the
        deployable network, without any training-only module. Its ``state_dict`` is the base
        subset of this model's."""
        cfg = copy.deepcopy(self._base_cfg)
        # the single-view parent of MultiViewDataPreprocessor: keeps device_augments / seed
        # (training only; at eval it is ClsDataPreprocessor's output), drops the multi-view key
        cfg['data_preprocessor']['type'] = 'FERDataPreprocessor'
        cfg['data_preprocessor'].pop('multi_view_augments', None)
        cfg['aux_nets'] = None
        base = FERClassifier(**cfg)
        base.backbone, base.neck, base.head = self.backbone, self.neck, self.head
        base.aux_nets, base.aux_options = self.aux_nets, self.aux_options
        base.data_preprocessor.load_state_dict(self.data_preprocessor.state_dict())
        return base.train(self.training)

    # ------------------------------------------------------------------------------------------
    # training
    def extract_views(self, inputs: torch.Tensor) -> List[Dict[str, torch.Tensor]]:
        """Base network on every view: N×V×3×H×W → V feature dicts."""
        n, v = inputs.shape[:2]
        if self.branch_bn == 'separate':
            return [self.extract_feat(inputs[:, i].contiguous()) for i in range(v)]
        feats = self.extract_feat(inputs.flatten(0, 1))
        return [{k: split_views(x, n, v, i) for k, x in feats.items()} for i in range(v)]

    def batch_targets(self, data_samples: List[DataSample], device) -> List[dict]:
        """One target dict per view (see ``view_label_fields``)."""
        required, optional = self.target_fields
        targets = gather_targets(data_samples, required, optional, device=device)
        if self.view_label_fields is None:
            return [targets] * self.num_views
        return view_targets(targets, self.view_label_fields)

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample]) -> dict:
        if inputs.dim() != 5 or inputs.shape[1] != self.num_views:
            raise ValueError(f'{type(self).__name__}: training inputs must be N×{self.num_views}'
                             f'×3×H×W ({self.num_views} views per sample), got '
                             f'{tuple(inputs.shape)}; {self.view_hint()}')
        targets = self.batch_targets(data_samples, inputs.device)
        feats = self.extract_views(inputs)
        losses = self.head.loss_views(feats, targets)
        if self.cross_neck is not None:
            cross = self.cross_neck(feats)
            for name, value in self.cross_head.loss_views(cross, targets).items():
                if name in losses:
                    raise ValueError(f'{type(self).__name__}: head and cross_head both log '
                                     f'{name!r}; give the losses distinct loss_name values')
                losses[name] = value
        return losses

    def view_hint(self) -> str:
        """How to produce the view axis (named in errors)."""
        return ('build training samples with a view axis (e.g. QuadrupletDataset, or a paired '
                'view transform in the pipeline)')
