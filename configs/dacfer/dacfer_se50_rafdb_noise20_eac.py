# DacFER on RAF-DB with EAC's fixed noisy label file noise02.txt (zyh-uaiaaaa/
# Erasing-Attention-Consistency: 12,271 rows, 1-based RAF-DB labels, 2,498 changed rows).
# Put it at data/rafdb/noise/noise02.txt (or set noise_file in both dataloaders).
_base_ = ['./dacfer_se50_rafdb.py']
# the wrapped training split: noisy gt_label, clean gt_label_clean kept (LabelNoiseDataset)
train_dataloader = dict(dataset=dict(
    _delete_=True, type='LabelNoiseDataset', ratio=0.0, mode='file', seed=0,
    noise_file='data/rafdb/noise/noise02.txt',
    dataset={{_base_.train_dataloader.dataset}}))
# validation = the clean RAF-DB test split (accuracy per epoch, best and last-5 mean:
# mmfer.evaluation.memorisation.last_epochs_summary). tools/test.py on this config evaluates the
# *noisy training split* (same labels: same wrapper settings) for the memorisation rate.
test_dataloader = dict(
    _delete_=True, batch_size=64, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='LabelNoiseDataset', ratio=0.0, mode='file', seed=0,
        noise_file='data/rafdb/noise/noise02.txt',
        dataset=dict(type={{_base_.dataset_type}}, data_root={{_base_.data_root}},
                     split='train', pipeline={{_base_.memo_pipeline}})))
test_evaluator = [dict(type='FERMetric', prefix='train_noisy'), dict(type='MemorisationMetric')]
