# Tiny CPU QCS on SynthFER rendered on the fly: the base network of poster_base_synthfer.py
# (IR-50 unit counts at 1/4 width, 64 px, 48 tokens of width 128, ViT depth 1) plus the QCS cross
# stage at that width (3 CSA + cross ViT depth 1, 4 heads). 16 quadruplets per batch (64 images
# per pass, as the base config's batch), SAM(Adam lr 1e-4) ρ 0.05, the base config's cosine
# schedule and 5 epochs over the 1,600 anchors. lr 1e-4: at 1e-3 neither this model nor the base
# network alone left chance level in 3 epochs (tools/analysis/compare_qcs_base.py, which compares
# QCS with the base network trained alone).
_base_ = ['./poster_base_synthfer.py']
model = dict(
    type='QCSClassifier',
    num_branches=4,
    branch_bn='separate',
    connection='vit',
    # base CE weight 0.5 (loss_base): L = 1/(2V) Σ_X [CE(base_X) + CE(cross_X)] (qcs.md §5)
    head=dict(losses=[dict(type='FERCrossEntropyLoss', loss_weight=0.5, loss_name='loss_base')]),
    cross_neck=dict(type='CrossSimilarityAttention', mode='qcs_sd', gamma=1.0, minmax='batch',
                    residual_style='post'),
    cross_vit=dict(depth=1, num_heads=4, mlp_ratio=4., drop_ratio=0., proj_drop_ratio=0.),
)
train_dataloader = dict(
    batch_size=16,
    dataset=dict(
        _delete_=True,
        type='QuadrupletDataset', num_branches=4, negative_mode='frequency', seed=0,
        dataset={{_base_.train_dataloader.dataset}}))
optim_wrapper = dict(
    type='SAMOptimWrapper', rho=0.05,
    optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.))
model_wrapper_cfg = dict(type='SAMDistributedDataParallel')
custom_hooks = [dict(type='DatasetEpochHook')]  # RunInfoHook is a default hook
