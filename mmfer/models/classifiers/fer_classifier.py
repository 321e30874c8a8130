"""FERClassifier: backbone → optional neck → head, with the named-tensor protocol."""
import re
from typing import Dict, List, Optional, Union

import torch
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample

from mmfer.registry import MODELS


@MODELS.register_module()
class FERClassifier(BaseModel):
    """One image → logits.

    ``extract_feat(inputs)`` returns a dict of named tensors:

    - ``backbone_feats``: tuple of the backbone outputs (mmpretrain backbones return tuples);
    - ``backbone_map``: the last backbone output (e.g. N×512×7×7 for ResNet-18);
    - everything the neck returns (at least ``feat``, the N×D vector the head classifies);
      without a neck, ``feat`` = global average pool of ``backbone_map``.

    The head turns the dict into logits (``predict``) or a dict of losses (``loss``).

    Args:
        backbone (dict): backbone config (mmpretrain's or mmfer's).
        head (dict): head config (e.g. ``FERClsHead``).
        neck (dict, optional): neck config; must return a dict with a ``feat`` entry.
        data_preprocessor (dict, optional): default ``ClsDataPreprocessor``.
        pretrained (str | dict, optional): checkpoint loaded strictly through
            :func:`mmfer.utils.load_checkpoint` when weights are initialised; loss state
            (``head.losses.*``, e.g. DAN's affinity centers) may be absent. A dict
            ``dict(checkpoint=path, prefix='backbone.')`` loads a file that holds only the
            model keys under ``prefix`` (e.g. converted backbone weights), strictly for that
            part; the rest keeps its initialisation.
    """

    def __init__(self, backbone: dict, head: dict, neck: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 pretrained: Union[str, dict, None] = None, init_cfg: Optional[dict] = None):
        if data_preprocessor is None:
            data_preprocessor = dict(type='ClsDataPreprocessor')
        data_preprocessor.setdefault('type', 'ClsDataPreprocessor')
        super().__init__(data_preprocessor=MODELS.build(data_preprocessor), init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None
        self.head = MODELS.build(head)
        self.pretrained = pretrained

    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    def init_weights(self):
        super().init_weights()
        if self.pretrained:
            from mmfer.utils.checkpoint import load_checkpoint
            loss_state = r'^head\.losses\.'
            if isinstance(self.pretrained, dict):
                part = self.pretrained.get('prefix', '')
                load_checkpoint(self, self.pretrained['checkpoint'], strict=True,
                                ignore_missing=[loss_state, '^(?!' + re.escape(part) + ')'])
            else:
                load_checkpoint(self, self.pretrained, strict=True, ignore_missing=[loss_state])

    def extract_feat(self, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        x = self.backbone(inputs)
        if not isinstance(x, (tuple, list)):
            x = (x, )
        feats = dict(backbone_feats=tuple(x), backbone_map=x[-1])
        if self.neck is not None:
            out = self.neck(tuple(x))
            if not isinstance(out, dict) or 'feat' not in out:
                raise TypeError(f'{type(self.neck).__name__} must return a dict with a "feat" '
                                f'entry (the mmfer neck protocol), got {type(out).__name__}')
            feats.update(out)
        else:
            m = x[-1]
            feats['feat'] = m.mean(dim=(2, 3)) if m.dim() == 4 else m
        return feats

    def forward(self, inputs: torch.Tensor, data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        if mode == 'tensor':
            return self.head(self.extract_feat(inputs))
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}"; use tensor, loss or predict')

    def train_step(self, data, optim_wrapper):
        """mmengine's ``train_step``, except that a SAM optimizer wrapper (two forward passes
        per step) is driven by :func:`mmfer.engine.optimizers.sam.sam_train_step`."""
        from mmfer.engine.optimizers.sam import SAMOptimWrapper, sam_train_step
        if isinstance(optim_wrapper, SAMOptimWrapper):
            return sam_train_step(self, data, optim_wrapper)
        return super().train_step(data, optim_wrapper)

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample]) -> dict:
        return self.head.loss(self.extract_feat(inputs), data_samples)

    def predict(self, inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None) -> List[DataSample]:
        return self.head.predict(self.extract_feat(inputs), data_samples)
