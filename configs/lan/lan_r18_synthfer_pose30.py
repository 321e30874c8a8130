# LAN on SynthFER tested on its |yaw| > 30° test images (the writer's subsets/test_pose30.txt,
# filtered from the full test split by file name): test only, e.g.
#   python tools/test.py configs/lan/lan_r18_synthfer_pose30.py work_dirs/lan_r18_synthfer/epoch_10.pth
_base_ = ['./lan_r18_synthfer.py']
test_dataloader = dict(dataset=dict(
    _delete_=True, type='PoseSubset', list_file='data/synthfer_rafdb/subsets/test_pose30.txt',
    dataset={{_base_.val_dataloader.dataset}}))
