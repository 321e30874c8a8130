# DacFER on RAF-DB with EAC's fixed noisy label file noise03.txt (zyh-uaiaaaa/
# Erasing-Attention-Consistency: 12,271 rows, 1-based RAF-DB labels, 3,722 changed rows).
# Put it at data/rafdb/noise/noise03.txt (or set noise_file in both dataloaders).
_base_ = ['./dacfer_se50_rafdb_noise30.py']
# the noisy-label protocol with EAC's file instead of a seeded draw (train and memorisation test)
noise = dict(mode='file', ratio=0.0, noise_file='data/rafdb/noise/noise03.txt')
train_dataloader = dict(dataset=noise)
test_dataloader = dict(dataset=noise)
