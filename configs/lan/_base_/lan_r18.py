# LAN (Cho & Lee, IEEE Access 2022; specs/lan.md): ResNet-18 (MS-Celeb-1M) → LocalAttention
# (four 3×3 convs + sigmoid → F_m, F_a = F_o ⊙ F_m, f = GAP(F_o) + GAP(F_a)) → FC, trained with
# CE + α·BCE(F_m, G), α = 0.5. G, the attention guidance map, is set on every training batch by
# GuidanceMapHook: per-position K = 2 K-means of the frozen pretrained backbone's layer4 features
# of the training set (the minority cluster is attentive), nearest-center assignment of each
# augmented input (online_reference). Inference: backbone → LAN → fusion → FC only.
# The backbone starts from the MS-Celeb-1M ResNet-18, loaded strictly:
#   python tools/model_converters/resnet18_msceleb_to_mmfer.py resnet18_msceleb.pth \
#       checkpoints/resnet18_msceleb_mmfer.pth
# Without the file, set model.pretrained=None (random init; the reference is then the
# initialised backbone, kept in the checkpoint's meta).
num_classes = 7
model = dict(
    type='FERClassifier',
    backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
    # widths / norm / fusion: specs/lan.md §3.1-3.2 (paper: not specified / addition)
    neck=dict(type='LocalAttention', in_channels=512, widths=(256, 128, 64), norm='BN',
              fusion='add'),
    head=dict(
        type='FERClsHead', num_classes=num_classes, in_channels=512,
        losses=[
            dict(type='FERCrossEntropyLoss', loss_weight=1.0),
            # α = 0.5: "the ratio of the two losses is set at 2:1" (paper IV-B, Table 7)
            dict(type='GuidanceBCELoss', loss_weight=0.5),
        ]),
    pretrained=dict(checkpoint='checkpoints/resnet18_msceleb_mmfer.pth', prefix='backbone.'),
)
# guidance maps (specs/lan.md §3.3-3.5): reference 'pretrained' | checkpoint path | 'live';
# guidance_mode 'online_reference' | 'precomputed' | 'live'; kmeans_backend 'auto' (exact within
# memory_budget, else memmap) | 'exact' | 'memmap' | 'minibatch'; 10 k-means++ restarts, seed 0.
# A leaf config lists it: custom_hooks = [{{_base_.guidance_hook}}] (default_runtime.py owns
# custom_hooks, and mmengine refuses a key defined in two bases).
guidance_hook = dict(type='GuidanceMapHook', reference='pretrained',
                     guidance_mode='online_reference', kmeans_backend='auto',
                     memory_budget=4 * 1024 ** 3, seed=0, restarts=10, extract_batch_size=64)
# paper IV-B: SGD, initial lr 0.1, batch 64; momentum / weight decay / schedule not specified:
# 0.9, 1e-4, StepLR(10 epochs, γ 0.1), 40 epochs (specs/lan.md §2)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='StepLR', by_epoch=True, step_size=10, gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64, enable=False)
