# Noisy-label protocol (dacfer.md §3, paper Table 4): dacfer_se50_rafdb with 20 % of the RAF-DB
# training labels replaced by a uniformly drawn other class (mode 'bernoulli', seed 0;
# 'exact' = exactly round(p·N) labels: set mode='exact' in both dataloaders below, or use
# dacfer_se50_rafdb_noise20_eac.py for the EAC noise file).
_base_ = ['./dacfer_se50_rafdb_noise30.py']
# the 30 % protocol with another ratio (train wrapper and the memorisation test split alike)
train_dataloader = dict(dataset=dict(ratio=0.2))
test_dataloader = dict(dataset=dict(ratio=0.2))
