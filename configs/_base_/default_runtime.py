# Runtime shared by every mmfer config.
default_scope = 'mmfer'
# strict load_from / --resume, opt-in load_from_partial (mmfer/engine/runner.py)
runner_type = 'FERRunner'

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
    # mmfer's hooks are default hooks, so a config's own `custom_hooks` (e.g. an EMAHook)
    # cannot drop them; `default_hooks = dict(<name>=dict(enable=False))` turns one of the
    # guards off on purpose (mmengine accepts `<name>=None` only for its own default hooks).
    # RunInfoHook records what reproduces a number (resolved config, seed, git hash, per-class
    # counts and class order of each split, environment) and puts class names and input settings
    # into every checkpoint; it also checks the head's num_classes against the dataset.
    run_info=dict(type='RunInfoHook'),
    # stops training at a NaN / inf loss (naming the iteration, the loss terms and the fixes)
    # and refuses to write a checkpoint with non-finite weights; max_bad_iters=1 stops at the
    # first such iteration (consecutive ones tolerated otherwise)
    non_finite=dict(type='NonFiniteLossHook', max_bad_iters=1),
    # a training epoch of n = k·batch_size + 1 samples (per rank) would end with a batch of one,
    # on which BatchNorm fails: drop only that sample, logged (other partial batches are kept)
    single_sample_batch=dict(type='SingleSampleBatchHook'),
    # a distributed collective that times out fails naming env_cfg.dist_cfg.timeout
    dist_timeout=dict(type='DistTimeoutHook'),
)
custom_hooks = []

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # timeout: seconds a collective (DDP all-reduce, evaluation gather, barrier) waits for the
    # other ranks before the job fails with a message naming this option (docs/reliability.md)
    dist_cfg=dict(backend='nccl', timeout=1800),
)
# TensorBoard (the `vis` extra) is off: `--cfg-options visualizer.vis_backends.1.enable=True`
# adds its event files under <work_dir>/<timestamp>/vis_data/ (docs/analysis_tools.md)
vis_backends = [dict(type='LocalVisBackend'),
                dict(type='OptionalTensorboardVisBackend', enable=False)]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=True, window_size=20)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)

# Performance options (mmfer/utils/performance.py, docs/performance.md); tools/train.py and
# tools/test.py switch them with --channels-last/--no-channels-last, --compile, --amp.
# channels_last: conv weights in NHWC memory format — the same numbers (logits within ~1e-6,
# tests/test_engine/test_performance.py), faster convolutions on CPU (oneDNN) and tensor-core GPUs
channels_last = True
# compile: mmengine's key (True or a dict of torch.compile arguments); off because the first
# iteration compiles for tens of seconds and batch-1 inference got slower
compile = False
# amp: None (fp32), 'bf16' or 'fp16' (GPU, or a CPU with native fp16); changes the logits
# (~1e-2 in bf16, ~1e-3 in fp16), so opt-in
amp = None
# fused_optimizer: build the optimizer with fused=True (one kernel per step instead of a loop over
# the parameters; the same update within ~1 float32 ulp per element); off so that an
# official recipe steps exactly as its code does; --fused-optim turns it on
fused_optimizer = False
