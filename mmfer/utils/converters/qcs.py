"""Released QCS / DCS checkpoints (birdwcp/QCS) → mmfer, loaded without running pickled code.

qcs.md §11.2. A released file is ``torch.save`` of a dict::

    epoch       int
    state_dict  nn.DataParallel weights, every key prefixed 'module.'
                (QCS 429 entries, DCS 426, DCS AffectNet-8 428)
    best_acc    0-d tensor (possibly CUDA → mapped to CPU)
    optimizer   SAM state dict (per-parameter 'old_p' copies)
    recorder, recorder_m   instances of classes of the training script's __main__
                           (they hold numpy arrays)

**Loading** (:func:`restricted_torch_load`, implemented in :mod:`mmfer.utils.checkpoint`):
``torch.load(weights_only=False)`` with a pickle module whose ``Unpickler.find_class`` resolves
only

- torch's tensor/parameter rebuild functions (storages are resolved by torch itself),
- ``collections.OrderedDict``,
- numpy's array / scalar / dtype reconstruction and ``_codecs.encode`` (how protocol 2 stores
  the array bytes) — data only; the recorders hold arrays,
- ``__main__.<Name>`` → a fresh inert stub class that records the pickled state and runs nothing;

every other global raises ``pickle.UnpicklingError`` (e.g. ``posix.system``, ``builtins.eval``),
so a payload never executes. mmengine's weights-only loader cannot read these files because of
the ``__main__`` classes, hence this second restricted path.

**Mapping** (:func:`qcs_to_mmfer`), names of the base network (``POSTERBase`` neck, ``IResNet``
backbone, ``FERClsHead`` head)::

    ir_back.{input_layer,body1..3}.*       → backbone.*          (ir50 converter, layout A/B)
    conv{1,2,3}.*                          → neck.reduce{1,2,3}.*
    embed_q.{0,1}.* | embed_1.{0,1}.*      → neck.embed1.{0,1}.*
    embed_k.0.*     | embed_2.0.*          → neck.embed2.0.*
    embed_v.proj.*  | embed_3.proj.*       → neck.embed3.0.*
    VIT_base.{cls_token,pos_embed,blocks.i.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2},norm}
                                           → neck.vit.*
    VIT_base.se_block.linear{1,2}.*        → neck.vit.se.fc{1,2}.*
    VIT_base.head.linear.*                 → head.fc.*

Declared drops (inference checkpoint): ``ir_back.output_layer.*``; the dead ViT submodules
``patch_embed.*``, ``CON1.*``, ``IRLinear1.*``, ``IRLinear2.*``, ``eca_block.*`` and
``blocks.i.conv.*``; and the training-only ``VIT_cross.*``, ``cross_attention_{1,2,3}.*``,
``fusion.*``. Any other key is an error. The result has 340 entries (295 without
``num_batches_tracked``) and loads strictly into ``configs/_base_/models/poster_base_ir50.py``.

With ``training=True`` the training-only modules are kept under the names of
``QCSClassifier`` (qcs.md §11.2 suggestion): ``cross_attention_{l}.`` → ``cross_neck.csa.{l-1}.``,
``VIT_cross.`` → ``cross_neck.vit.`` (``se_block.linear{1,2}`` → ``se.fc{1,2}``; the
``QCSCrossStage``) and ``VIT_cross.head.linear.`` → ``cross_head.fc.`` (the cross
``FERClsHead``);
``fusion.*`` (an unused bilinear classifier) is still dropped.
"""
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

from mmfer.utils.checkpoint import MainStub, RestrictedUnpickler  # noqa: F401  (re-exported)
from mmfer.utils.checkpoint import extract_state_dict
from mmfer.utils.checkpoint import restricted_torch_load as _restricted_torch_load
from mmfer.utils.checkpoint import strip_prefix
from mmfer.utils.converters.ir50 import convert_ir50

# ---------------------------------------------------------------------------------------------
# restricted unpickling: mmfer.utils.checkpoint holds the unpickler (one allow-list)


def restricted_torch_load(path: str, map_location='cpu'):
    """Load a QCS/DCS training checkpoint without executing pickled code: ``__main__`` classes
    become inert :class:`~mmfer.utils.checkpoint.MainStub` s (see
    :func:`mmfer.utils.checkpoint.restricted_torch_load`).

    Raises:
        FileNotFoundError: no such file.
        pickle.UnpicklingError: the file needs a global outside the allow-list.
    """
    return _restricted_torch_load(path, map_location=map_location, stub_main=True)


# ---------------------------------------------------------------------------------------------
# key mapping

_W = r'(weight|bias)'
_VIT_SAME = re.compile(r'^(cls_token|pos_embed|norm\.' + _W + r'|blocks\.\d+\.(norm1|attn\.qkv|'
                       r'attn\.proj|norm2|mlp\.fc1|mlp\.fc2)\.' + _W + r')$')
_VIT_SE = re.compile(r'^se_block\.linear([12])\.' + _W + r'$')
_VIT_HEAD = re.compile(r'^head\.linear\.' + _W + r'$')
_VIT_DEAD = re.compile(r'^(patch_embed\.|CON1\.|IRLinear1\.|IRLinear2\.|eca_block\.|'
                       r'blocks\.\d+\.conv\.)')
_NECK = [
    (re.compile(r'^conv([123])\.' + _W + r'$'), r'neck.reduce\1.\2'),
    (re.compile(r'^embed_(?:q|1)\.([01])\.' + _W + r'$'), r'neck.embed1.\1.\2'),
    (re.compile(r'^embed_(?:k|2)\.0\.' + _W + r'$'), r'neck.embed2.0.\1'),
    (re.compile(r'^embed_(?:v|3)\.proj\.' + _W + r'$'), r'neck.embed3.0.\1'),
]
_CSA = re.compile(r'^cross_attention_([123])\.(.+)$')
_CSA_KEYS = re.compile(r'^(theta|(norm1|norm2|proj|mlp\.fc1|mlp\.fc2)\.' + _W + r')$')

#: declared drops of an inference conversion, as (pattern, description)
INFERENCE_DROPS = (
    'ir_back.output_layer.* (IR-50 face-recognition embedding, never called)',
    'VIT_*.{patch_embed,CON1,IRLinear1,IRLinear2,eca_block,blocks.i.conv}.* (dead ViT '
    'submodules)',
    'VIT_cross.* (training-only cross classifier)',
    'cross_attention_{1,2,3}.* (training-only CSA modules)',
    'fusion.* (unused bilinear-pooling classifier)',
)


def _map_vit(rest: str, vit_prefix: str, head_prefix: str) -> Optional[str]:
    """Name inside an official ``VisionTransformer`` → mmfer name, None for a dead submodule."""
    if _VIT_SAME.match(rest):
        return vit_prefix + rest
    m = _VIT_SE.match(rest)
    if m:
        return f'{vit_prefix}se.fc{m.group(1)}.{m.group(2)}'
    m = _VIT_HEAD.match(rest)
    if m:
        return head_prefix + m.group(1)
    if _VIT_DEAD.match(rest):
        return None
    raise KeyError(rest)


def qcs_to_mmfer(state_dict: Dict[str, torch.Tensor], training: bool = False,
                 source: str = 'checkpoint') -> Tuple['OrderedDict[str, torch.Tensor]', dict]:
    """Map an official QCS/DCS state dict to mmfer names (see module doc).

    Args:
        state_dict: the file's ``state_dict`` (``module.`` prefix allowed).
        training: keep the cross modules (``cross_neck.*``, ``cross_head.*``)
            for a ``QCSClassifier`` / ``DCSClassifier`` checkpoint (e.g. to resume or fine-tune);
            default False (inference: base network only).
        source: file name for error messages.

    Returns:
        ``(mapped, info)``; ``info`` has ``entries_in``, ``entries_out``, ``dropped``
        (description → count), ``ir_layout`` and ``method`` ('QCS' if CSA θ present, else 'DCS').

    Raises:
        KeyError: a key that is neither mapped nor a declared drop (all such keys listed).
    """
    sd = strip_prefix(OrderedDict(state_dict))
    out = OrderedDict()
    dropped: Dict[str, int] = OrderedDict()
    unknown = []
    ir = OrderedDict()

    def drop(desc):
        dropped[desc] = dropped.get(desc, 0) + 1

    for k, v in sd.items():
        if k.startswith('ir_back.'):
            ir[k[len('ir_back.'):]] = v
            continue
        new = None
        for pat, repl in _NECK:
            if pat.match(k):
                new = pat.sub(repl, k)
                break
        if new is not None:
            out[new] = v
            continue
        try:
            if k.startswith('VIT_base.'):
                new = _map_vit(k[len('VIT_base.'):], 'neck.vit.', 'head.fc.')
                if new is None:
                    drop(INFERENCE_DROPS[1])
                else:
                    out[new] = v
                continue
            if k.startswith('VIT_cross.'):
                new = _map_vit(k[len('VIT_cross.'):], 'cross_neck.vit.', 'cross_head.fc.')
                if new is None:
                    drop(INFERENCE_DROPS[1])
                elif training:
                    out[new] = v
                else:
                    drop(INFERENCE_DROPS[2])
                continue
        except KeyError:
            unknown.append(k)
            continue
        m = _CSA.match(k)
        if m and _CSA_KEYS.match(m.group(2)):
            if training:
                out[f'cross_neck.csa.{int(m.group(1)) - 1}.{m.group(2)}'] = v
            else:
                drop(INFERENCE_DROPS[3])
            continue
        if k.startswith('fusion.'):
            drop(INFERENCE_DROPS[4])
            continue
        unknown.append(k)
    if unknown:
        raise KeyError(f'{source}: {len(unknown)} keys are neither QCS/DCS model keys nor declared '
                       f'drops: {unknown[:20]}. Fix: pass a released birdwcp/QCS checkpoint '
                       '(its state_dict), not a POSTER++ or other model.')
    if not ir:
        raise KeyError(f'{source}: no ir_back.* (IR-50) keys found; not a QCS/DCS checkpoint')
    ir_sd, ir_info = convert_ir50(ir, depth=50, num_stages=3, with_output_layer=False)
    for desc, n in ir_info['dropped'].items():
        dropped[INFERENCE_DROPS[0] if desc.startswith('output_layer') else 'ir_back.' + desc] = n
    mapped = OrderedDict(('backbone.' + k, v) for k, v in ir_sd.items())
    mapped.update(out)
    info = dict(entries_in=len(sd), entries_out=len(mapped), dropped=dict(dropped),
                ir_layout=ir_info['layout'],
                method='QCS' if any(k.endswith('.theta') for k in sd) else 'DCS',
                num_classes=int(sd['VIT_base.head.linear.weight'].shape[0])
                if 'VIT_base.head.linear.weight' in sd else None)
    return mapped, info


#: dataset → (class-order preset of mmfer.datasets.class_maps, mmfer config of that recipe);
#: the official runs predict in each dataset's own order (qcs.md §10.3)
QCS_DATASETS = {
    'rafdb': ('rafdb', 'qcs_rafdb.py'),
    'ferplus': ('ferplus', 'qcs_ferplus.py'),
    'affectnet7': ('affectnet7', 'qcs_affectnet7.py'),
    'affectnet8': ('affectnet8', 'qcs_affectnet8.py'),
}


def dataset_meta(dataset: str, num_classes: int, source: str = 'checkpoint') -> dict:
    """``classes`` / ``dataset_meta`` / ``input_cfg`` entries of ``meta`` for ``dataset``.

    ``input_cfg`` (normalisation and test pipeline) is read from the dataset's mmfer QCS config
    when the configs folder is present, as ``RunInfoHook`` records it for trained checkpoints.
    """
    from mmfer.datasets.class_maps import CLASS_ORDERS
    if dataset not in QCS_DATASETS:
        raise ValueError(f'dataset must be one of {sorted(QCS_DATASETS)}, got {dataset!r}')
    classes = list(CLASS_ORDERS[QCS_DATASETS[dataset][0]])
    if len(classes) != num_classes:
        raise ValueError(f'{source}: the checkpoint has {num_classes} classes but dataset '
                         f'{dataset!r} has {len(classes)} ({classes}); pass the matching '
                         '--dataset')
    meta = dict(classes=classes, dataset_meta=dict(classes=classes))
    cfg_path = _config_path('qcs', QCS_DATASETS[dataset][1])
    if osp.isfile(cfg_path):
        from mmengine.config import Config
        cfg = Config.fromfile(cfg_path)
        pre = dict(cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {})
        test = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
        pipeline = test.get('dataset', {}).get('pipeline', []) if test else []
        meta['input_cfg'] = dict(mean=pre.get('mean'), std=pre.get('std'),
                                 to_rgb=pre.get('to_rgb'),
                                 test_pipeline=[dict(t) for t in pipeline])
    return meta


def convert_qcs_checkpoint(checkpoint: dict, training: bool = False,
                           source: str = 'checkpoint', dataset: Optional[str] = None) -> dict:
    """Convert a loaded QCS/DCS file into ``dict(state_dict=..., meta=...)``.

    ``meta.converted_from`` records the file, method, entries, declared drops and the file's
    ``epoch`` / ``best_acc`` (as a float). Optimizer state and recorders are not carried over.
    With ``dataset`` (``'rafdb'``, ``'ferplus'``, ``'affectnet7'``, ``'affectnet8'`` — a file
    does not say what it was trained on) ``meta`` also gets the class names in prediction order
    and the input settings (:func:`dataset_meta`); the class count must match the head.
    """
    sd, info = qcs_to_mmfer(extract_state_dict(checkpoint), training=training, source=source)
    extra = {}
    if isinstance(checkpoint, dict):
        if isinstance(checkpoint.get('epoch'), int):
            extra['epoch'] = checkpoint['epoch']
        if isinstance(checkpoint.get('best_acc'), (torch.Tensor, float, int)):
            extra['best_acc'] = float(checkpoint['best_acc'])
        extra['not_converted'] = sorted(k for k in checkpoint if k != 'state_dict')
    meta = dict(converted_from=dict(source=f'birdwcp/QCS {info["method"]} checkpoint',
                                    file=source, training=training, **info, **extra))
    if dataset is not None:
        meta.update(dataset_meta(dataset, info['num_classes'], source))
    return dict(state_dict=sd, meta=meta)


def _config_path(*parts) -> str:
    root = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    return osp.join(root, 'configs', *parts)


def build_inference_model(num_classes: int = 7) -> torch.nn.Module:
    """The mmfer base network of ``configs/_base_/models/poster_base_ir50.py`` (no weights),
    built by :func:`mmfer.apis.build_model` like every model of a config."""
    from mmengine.config import Config

    from mmfer.apis.builder import build_model
    cfg_path = _config_path('_base_', 'models', 'poster_base_ir50.py')
    if not osp.isfile(cfg_path):  # installed without the configs folder: the same model
        cfg_path = Config(dict(model=dict(
            type='FERClassifier',
            backbone=dict(type='IResNet', depth=50, num_stages=3, out_indices=(0, 1, 2),
                          input_resize=112, resize_mode='nearest'),
            neck=dict(type='POSTERBase', in_channels=(64, 128, 256), embed_dim=768),
            head=dict(type='FERClsHead', num_classes=7, in_channels=768))))
    return build_model(cfg_path, device=None,
                       cfg_options={'model.head.num_classes': num_classes})


def build_training_model(method: str = 'QCS', num_classes: int = 7) -> torch.nn.Module:
    """``QCSClassifier`` / ``DCSClassifier`` of ``configs/qcs/{qcs,dcs}_rafdb.py`` (no weights;
    only the structure is needed, so the backbone's ``pretrained`` file is not required)."""
    from mmfer.apis.builder import build_model
    cfg_path = _config_path('qcs', f'{method.lower()}_rafdb.py')
    if not osp.isfile(cfg_path):
        raise FileNotFoundError(f'{cfg_path} not found: the training-model check needs the '
                                'configs folder of the mmfer repository')
    return build_model(cfg_path, device=None,
                       cfg_options={'model.head.num_classes': num_classes,
                                    'model.backbone.pretrained': None})


def verify_converted(state_dict: Dict[str, torch.Tensor], info: dict, training: bool = False,
                     source: str = 'converted QCS/DCS checkpoint') -> None:
    """Strictly compare a converted state dict with the mmfer model it is meant for: the base
    network (inference) or the QCS/DCS training classifier (``training=True``)."""
    from mmfer.utils.checkpoint import check_state_dict
    with torch.device('meta'):  # only names and shapes are compared: no memory, no init cost
        model = (build_training_model(info['method'], info['num_classes']) if training else
                 build_inference_model(info['num_classes']))
    check_state_dict(model, state_dict, source=source)
