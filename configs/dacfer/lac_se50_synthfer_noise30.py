# Noisy-label protocol on SynthFER: lac_se50_synthfer with 30 % of the training labels replaced
# by a uniformly drawn other class (mode 'bernoulli', seed 0).
_base_ = ['./lac_se50_synthfer.py']
# the wrapped training split: noisy gt_label, clean gt_label_clean kept (LabelNoiseDataset)
train_dataloader = dict(dataset=dict(
    _delete_=True, type='LabelNoiseDataset', ratio=0.3, mode='bernoulli', seed=0,
    dataset={{_base_.train_dataloader.dataset}}))
# validation = the clean SynthFER test split (accuracy per epoch, best and last-5 mean:
# mmfer.evaluation.memorisation.last_epochs_summary). tools/test.py on this config evaluates the
# *noisy training split* (same labels: same wrapper settings) for the memorisation rate.
test_dataloader = dict(
    _delete_=True, batch_size=64, num_workers='auto', persistent_workers='auto',
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='LabelNoiseDataset', ratio=0.3, mode='bernoulli', seed=0,
        dataset=dict(type={{_base_.dataset_type}}, data_root={{_base_.data_root}},
                     split='train', pipeline={{_base_.memo_pipeline}})))
test_evaluator = [dict(type='FERMetric', prefix='train_noisy'), dict(type='MemorisationMetric')]
