"""The PCDA model as its configs build it (pcda.md §7, §9 and acceptance facts): parameter
budgets on the meta device, the frozen landmark network out of the optimizer, the MobileFaceNet
MACs, class-token / logits shapes, and a training step of the SynthFER CPU variant."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmpretrain.structures import DataSample

from mmfer.apis import build_model
from mmfer.registry import MODELS
from mmfer.utils.flops import count_flops

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def cfg_of(name, **options):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'pcda', name))
    if options:
        cfg.merge_from_dict(options)
    return cfg


def meta_model(name, **options):
    with torch.device('meta'):
        return build_model(cfg_of(name, **options), device='meta')


def count(module, trainable=None):
    """Parameters excluding class tokens and position embeddings (what a module counter sees)."""
    return sum(p.numel() for n, p in module.named_parameters()
               if not ('cls_token' in n or 'pos_embed' in n)
               and (trainable is None or p.requires_grad == trainable))


def test_parameter_budgets_of_the_rafdb_config():
    m = meta_model('pcda_ir50_rafdb.py')
    assert count(m.backbone) == 17_611_968
    lm = m.aux_nets['landmark']
    assert count(lm) == 1_007_248 and count(lm, trainable=True) == 0
    assert not lm.training and m.aux_options['landmark']['frozen']
    assert count(m.neck) + count(m.head) == 15_660_295
    assert count(m) == 34_279_511
    assert sum(p.numel() for p in m.parameters()) == 34_279_511 + 1_536 + 151_296
    cfg = cfg_of('pcda_ir50_rafdb.py', **{'model.neck.qkv_mode': 'query_only'})
    with torch.device('meta'):
        q_neck = MODELS.build(cfg.model.neck)
    assert count(q_neck) + count(m.head) == 15_663_367
    # the dataset configs keep the design (FERPlus: an 8-way FC); Table 4's conv generator adds
    # a 1×1 conv 128 → 256 with bias
    for name in ('pcda_ir50_affectnet7.py', 'pcda_ir50_ferplus.py'):
        c = cfg_of(name).model
        assert (c.neck, c.backbone.depth, c.aux_nets.landmark.type) == \
            (cfg_of('pcda_ir50_rafdb.py').model.neck, 50, 'MobileFaceNet')
    assert cfg_of('pcda_ir50_ferplus.py').model.head.num_classes == 8
    with torch.device('meta'):
        conv = MODELS.build(cfg_of('pcda_ir50_rafdb_heatmap-conv.py').model.neck)
    assert count(conv) - count(m.neck) == 33_024


def test_neutral_class_and_losses_per_dataset():
    for name, idx, n_cls in (('pcda_ir50_rafdb.py', 6, 7), ('pcda_ir50_affectnet7.py', 0, 7),
                             ('pcda_ir50_ferplus.py', 0, 8), ('pcda_ir50_synthfer.py', 6, 7)):
        cfg = cfg_of(name)
        with torch.device('meta'):
            head = MODELS.build(cfg.model.head)
        ce, neaa = head.losses
        assert (ce.loss_name, neaa.loss_name) == ('loss_ce', 'loss_neaa')
        assert (neaa.neutral_index, len(neaa.classes), neaa.loss_weight) == (idx, n_cls, 0.01)
        assert head.num_classes == n_cls == cfg.data_preprocessor.num_classes


def test_table1_rows():
    rows = {'none': ('none', False, False), 'd': ('max', False, False),
            'c': ('none', True, False), 'n': ('none', False, True),
            'dc': ('max', True, False), 'cn': ('none', True, True), 'dn': ('max', False, True)}
    for row, (heat, cross, neaa) in rows.items():
        m = cfg_of(f'pcda_ir50_rafdb_table1-{row}.py').model
        assert (m.neck.heatmap_mode, m.neck.cross_attention) == (heat, cross), row
        assert ('NeAALoss' in [l['type'] for l in m.head.losses]) == neaa, row
        assert (m.aux_nets is not None) == (heat != 'none' or cross), row


def test_frozen_landmark_net_is_out_of_the_optimizer():
    from mmfer.engine.optimizers.constructor import FEROptimWrapperConstructor
    cfg = cfg_of('pcda_ir50_synthfer.py')
    model = build_model(cfg)
    ow = FEROptimWrapperConstructor(dict(type='OptimWrapper', optimizer=dict(type='Adam',
                                                                            lr=1e-3)))(model)
    in_opt = {id(p) for g in ow.optimizer.param_groups for p in g['params']}
    assert not any(id(p) in in_opt for p in model.aux_nets['landmark'].parameters())
    assert sum(p.numel() for p in model.parameters() if id(p) in in_opt) == \
        sum(p.numel() for p in model.parameters()) - \
        sum(p.numel() for p in model.aux_nets['landmark'].parameters())


def test_mobilefacenet_macs():
    from mmfer.models.backbones.mobilefacenet import MobileFaceNet
    r = count_flops(MobileFaceNet(), torch.randn(1, 3, 112, 112))
    assert round(r.macs / 1e9, 3) == 0.221
    assert r.params['leaf_executed'] == 1_007_248


def test_synthfer_variant_trains_and_predicts():
    torch.manual_seed(0)
    model = build_model(cfg_of('pcda_ir50_synthfer.py'))
    lm = model.aux_nets['landmark']
    before = {k: v.clone() for k, v in lm.state_dict().items()}
    data = dict(inputs=[torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
                        for _ in range(8)],
                data_samples=[DataSample().set_gt_label(y) for y in (6, 6, 6, 0, 0, 3, 3, 5)])
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    batch = model.data_preprocessor(data, training=True)
    losses = model(**batch, mode='loss')
    assert set(losses) == {'loss_ce', 'loss_neaa'}
    assert losses['loss_ce'].item() == pytest.approx(torch.log(torch.tensor(7.)).item(), abs=0.3)
    assert 0 < losses['loss_neaa'].item() < 1
    sum(losses.values()).backward()
    opt.step()
    assert all(torch.equal(before[k], v) for k, v in lm.state_dict().items())
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(batch['inputs'])
        preds = model(**model.data_preprocessor(data), mode='predict')
    assert tuple(feats['cls_token'].shape) == (8, 128) and tuple(feats['feat'].shape) == (8, 128)
    assert tuple(feats['heatmap'].shape) == (8, 1, 8, 8)
    assert tuple(feats['aux.landmark'][0].shape) == (8, 64, 8, 8)
    assert len(preds) == 8 and preds[0].pred_score.shape == (7, )
    assert torch.allclose(torch.stack([p.pred_score for p in preds]).sum(1), torch.ones(8))


def test_synthfer_landmark_checkpoint_fits(tmp_path):
    """A checkpoint of configs/landmarks/mobilefacenet_synthfer_64.py loads strictly into the frozen
    landmark network of pcda_ir50_synthfer.py with prefix 'backbone.' (the config comment's
    instruction); every landmark weight then equals the file's."""
    torch.manual_seed(0)
    lm_model = build_model(Config.fromfile(osp.join(ROOT, 'configs', 'landmarks',
                                                    'mobilefacenet_synthfer_64.py')))
    sd = lm_model.state_dict()
    path = str(tmp_path / 'epoch_8.pth')
    torch.save(dict(state_dict=sd, meta=dict()), path)
    cfg = cfg_of('pcda_ir50_synthfer.py')
    cfg.model.aux_nets.landmark.pretrained = dict(checkpoint=path, prefix='backbone.')
    model = build_model(cfg)
    model.init_weights()
    got = model.aux_nets['landmark'].state_dict()
    want = {k[len('backbone.'):]: v for k, v in sd.items() if k.startswith('backbone.')}
    assert len(got) == len(want) == 333
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert cfg.landmark_checkpoint == 'work_dirs/mobilefacenet_synthfer_64/epoch_5.pth'
    assert all(not p.requires_grad for p in model.aux_nets['landmark'].parameters())
