"""FERClassifier: backbone (+ auxiliary networks) → optional neck → head, with the named-tensor
protocol (see docs/framework.md for the data flow)."""
import re
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample

from mmfer.registry import MODELS

AUX_PREFIX = 'aux.'
_AUX_KEYS = ('frozen', 'pretrained', 'train_only')


def _as_tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x, )


@MODELS.register_module()
class FERClassifier(BaseModel):
    """One image → logits.

    ``extract_feat(inputs)`` returns a dict of named tensors:

    - ``backbone_feats``: tuple of the backbone outputs (mmpretrain backbones return tuples);
    - ``backbone_map``: the last backbone output (e.g. N×512×7×7 for ResNet-18);
    - ``aux.<name>``: tuple of the outputs of each auxiliary network (same input as the
      backbone);
    - everything the neck returns (at least ``feat``, the N×D vector the head classifies).
      An mmfer neck returns a dict; an mmpretrain neck (e.g. ``GlobalAveragePooling``) returns a
      tuple, whose last entry becomes ``feat``. Without a neck, ``feat`` = global average pool of
      ``backbone_map``. A neck with ``uses_aux = True`` is called as ``neck(backbone_feats,
      aux={name: outputs})``.

    The head turns the dict into logits (``predict``) or a dict of losses (``loss``); the
    targets the losses declare are gathered from the data samples (:mod:`mmfer.models.targets`).

    Args:
        backbone (dict): backbone config (mmpretrain's or mmfer's).
        head (dict): head config (e.g. ``FERClsHead``).
        neck (dict, optional): neck config.
        aux_nets (dict, optional): ``{name: cfg}`` of auxiliary networks built beside the
            backbone (e.g. a frozen landmark network). Besides the module's own keys a cfg takes

            - ``frozen`` (bool, default True): parameters get ``requires_grad=False``, the network
              stays in eval mode through ``model.train()`` (BatchNorm statistics never move), runs
              under ``torch.no_grad()`` and is left out of the optimizer;
            - ``pretrained`` (str | dict(checkpoint, prefix)): a checkpoint loaded strictly into
              this network at ``init_weights``; ``prefix`` selects the file's keys under it (e.g.
              ``'backbone.'`` of an mmfer landmark-regression checkpoint) and strips it;
            - ``train_only`` (bool, default False): run only for the training loss, so inference
              costs nothing (e.g. a reference network that produces targets).
        data_preprocessor (dict, optional): default ``ClsDataPreprocessor``.
        train_cfg (dict, optional): as mmpretrain's ``ImageClassifier``:
            ``dict(augments=[dict(type='Mixup', alpha=0.8), ...])`` becomes the data
            preprocessor's ``batch_augments`` (its ``num_classes`` defaults to the head's). The
            mixed soft targets reach the losses as ``gt_score``; a loss that cannot use them
            refuses the batch (:mod:`mmfer.models.losses.base`).
        pretrained (str | dict, optional): checkpoint loaded strictly through
            :func:`mmfer.utils.load_checkpoint` when weights are initialised; loss state
            (``head.losses.*``, e.g. DAN's affinity centers) may be absent. A dict
            ``dict(checkpoint=path, prefix='backbone.')`` loads a file that holds only the
            model keys under ``prefix`` (e.g. converted backbone weights), strictly for that
            part; the rest keeps its initialisation.
    """

    def __init__(self, backbone: dict, head: dict, neck: Optional[dict] = None,
                 aux_nets: Optional[Dict[str, dict]] = None,
                 data_preprocessor: Optional[dict] = None, train_cfg: Optional[dict] = None,
                 pretrained: Union[str, dict, None] = None, init_cfg: Optional[dict] = None):
        data_preprocessor = dict(data_preprocessor or {})
        data_preprocessor.setdefault('type', 'ClsDataPreprocessor')
        if train_cfg is not None and 'augments' in train_cfg:
            data_preprocessor['batch_augments'] = train_cfg
            data_preprocessor.setdefault('num_classes', head.get('num_classes'))
        super().__init__(data_preprocessor=MODELS.build(data_preprocessor), init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None
        self.head = MODELS.build(head)
        self.pretrained = pretrained
        self._build_aux_nets(aux_nets or {})

    # ------------------------------------------------------------------------------------------
    # auxiliary networks
    def _build_aux_nets(self, aux_nets: Dict[str, dict]) -> None:
        self.aux_nets = nn.ModuleDict()
        self.aux_options: Dict[str, dict] = {}
        for name, cfg in aux_nets.items():
            if not re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*', name):
                raise ValueError(f'aux_nets: {name!r} is not a valid network name (letters, digits '
                                 'and _, not starting with a digit)')
            cfg = dict(cfg)
            opts = dict(frozen=bool(cfg.pop('frozen', True)), pretrained=cfg.pop('pretrained', None),
                        train_only=bool(cfg.pop('train_only', False)))
            net = MODELS.build(cfg)
            if opts['frozen']:
                net.requires_grad_(False)
                net.eval()
            self.aux_nets[name] = net
            self.aux_options[name] = opts

    def frozen_aux_nets(self) -> List[str]:
        return [n for n, o in self.aux_options.items() if o['frozen']]

    def train(self, mode: bool = True):
        """``nn.Module.train``, except that frozen auxiliary networks stay in eval mode; a frozen
        network that defines ``frozen_train(mode)`` is then told the mode (e.g.
        ``MobileFaceNet(bn_mode='train')`` puts its BatchNorm layers back into it)."""
        super().train(mode)
        for name in self.frozen_aux_nets():
            self.aux_nets[name].eval()
            if hasattr(self.aux_nets[name], 'frozen_train'):
                self.aux_nets[name].frozen_train(mode)
        return self

    def run_aux_nets(self, inputs: torch.Tensor, training: bool) -> Dict[str, tuple]:
        """``{name: tuple of outputs}`` of the auxiliary networks that run now."""
        out = {}
        for name, net in self.aux_nets.items():
            opts = self.aux_options[name]
            if opts['train_only'] and not training:
                continue
            if opts['frozen']:
                with torch.no_grad():
                    out[name] = _as_tuple(net(inputs))
            else:
                out[name] = _as_tuple(net(inputs))
        return out

    # ------------------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    @property
    def train_label_fields(self) -> Tuple[str, ...]:
        """Data-sample fields a training batch needs besides ``gt_label`` (read by
        ``tools/analysis/benchmark.py`` to fill synthetic batches)."""
        required, _ = self.head.target_fields
        return tuple(f for f in required if f != 'gt_label')

    def init_weights(self):
        super().init_weights()
        from mmfer.utils.checkpoint import LOSS_STATE_KEYS, load_checkpoint
        if self.pretrained:
            if isinstance(self.pretrained, dict):
                part = self.pretrained.get('prefix', '')
                load_checkpoint(self, self.pretrained['checkpoint'], strict=True,
                                ignore_missing=[LOSS_STATE_KEYS, '^(?!' + re.escape(part) + ')'])
            else:
                load_checkpoint(self, self.pretrained, strict=True,
                                ignore_missing=[LOSS_STATE_KEYS])
        for name, opts in self.aux_options.items():
            spec = opts['pretrained']
            if not spec:
                continue
            path, prefix = (spec, '') if isinstance(spec, str) else \
                (spec['checkpoint'], spec.get('prefix', ''))

            def take(sd, prefix=prefix, path=path, name=name):
                out = type(sd)((k[len(prefix):], v) for k, v in sd.items() if k.startswith(prefix))
                if not out:
                    raise KeyError(f'aux_nets.{name}.pretrained: {path} has no key starting with '
                                   f'{prefix!r}; set pretrained=dict(checkpoint=..., prefix=...) '
                                   'to the part of the file that holds this network')
                return out
            load_checkpoint(self.aux_nets[name], path, key_map=take, strict=True)

    # ------------------------------------------------------------------------------------------
    def extract_feat(self, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        x = _as_tuple(self.backbone(inputs))
        feats = dict(backbone_feats=x, backbone_map=x[-1])
        aux = self.run_aux_nets(inputs, self.training)
        feats.update({AUX_PREFIX + n: v for n, v in aux.items()})
        if self.neck is not None:
            if getattr(self.neck, 'uses_aux', False):
                out = self.neck(x, aux=aux)
            else:
                out = self.neck(x)
            if isinstance(out, (tuple, list)) and out and all(
                    isinstance(t, torch.Tensor) for t in out):
                out = dict(feat=out[-1])  # an mmpretrain neck: tuple of pooled features
            if not isinstance(out, dict) or 'feat' not in out:
                raise TypeError(f'{type(self.neck).__name__} must return a dict with a "feat" '
                                f'entry (the mmfer neck protocol) or a tuple of tensors (an '
                                f'mmpretrain neck), got {type(out).__name__}')
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

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample]) -> dict:
        return self.head.loss(self.extract_feat(inputs), data_samples)

    def predict(self, inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None) -> List[DataSample]:
        return self.head.predict(self.extract_feat(inputs), data_samples)
