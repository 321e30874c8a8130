# Runtime shared by every mmfer config.
default_scope = 'mmfer'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    # logs loss, lr, data/iter time and the ETA every `interval` iterations
    logger=dict(type='LoggerHook', interval=20),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # keeps the last 2 checkpoints and the best one by mean class accuracy
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2,
                    save_best='fer/mean_class_accuracy', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
)
# RunInfoHook records what reproduces a number (resolved config, seed, git hash, per-class
# counts and class order of each split, environment) and puts class names and input settings
# into every checkpoint; it also checks the head's num_classes against the dataset.
custom_hooks = [dict(type='RunInfoHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=True, window_size=20)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
