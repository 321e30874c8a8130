# The ResNet-18 baseline (configs/baseline/r18_synthfer.py) on the SynthFER |yaw| > 30° test
# images, next to lan_r18_synthfer_pose30.py: test only.
_base_ = ['../baseline/r18_synthfer.py']
test_dataloader = dict(dataset=dict(
    _delete_=True, type='PoseSubset', list_file='data/synthfer_rafdb/subsets/test_pose30.txt',
    dataset={{_base_.val_dataloader.dataset}}))
