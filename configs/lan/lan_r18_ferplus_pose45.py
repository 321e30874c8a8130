# LAN tested on Pose-FERPlus > 45° (RAN's list, specs/datasets.md §7; paper size 634; public
# list 633 lines): the model trained on the full training set of the parent
# (lan_r18_ferplus.py), evaluated on the subset. List: kaiwang960112/Challenge-condition-FER-
# dataset, FERplus_dir/pose_45_ferplus_list.txt → data/pose_lists/. Labels come from the
# parent's annotation; the list digits are only checked against list_classes (agreement logged);
# the list/paper size difference is logged, not padded.
# Test:
#   python tools/test.py configs/lan/lan_r18_ferplus_pose45.py work_dirs/lan_r18_ferplus/epoch_40.pth
_base_ = ['./lan_r18_ferplus.py']
test_dataloader = dict(dataset=dict(
    _delete_=True, type='PoseSubset', list_file='data/pose_lists/FERplus_dir/pose_45_ferplus_list.txt',
    list_classes='ferplus8', expected_size=634, dataset={{_base_.val_dataloader.dataset}}))
