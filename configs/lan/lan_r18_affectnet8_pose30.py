# LAN tested on Pose-AffectNet > 30° (RAN's list, specs/datasets.md §7; paper size 1,949): the
# model trained on the full training set of the parent (lan_r18_affectnet8.py), evaluated on the
# subset: List: kaiwang960112/Challenge-condition-FER-dataset,
# AffectNet_dir/pose_30_affectnet_list.txt → data/pose_lists/. Labels come from the parent's
# annotation; the list digits are only checked against list_classes (agreement logged); the
# list/paper size difference is logged, not padded.
# Test:
#   python tools/test.py configs/lan/lan_r18_affectnet8_pose30.py work_dirs/lan_r18_affectnet8/epoch_40.pth
_base_ = ['./lan_r18_affectnet8.py']
test_dataloader = dict(dataset=dict(
    _delete_=True, type='PoseSubset', list_file='data/pose_lists/AffectNet_dir/pose_30_affectnet_list.txt',
    list_classes='affectnet8', expected_size=1949, dataset={{_base_.val_dataloader.dataset}}))
