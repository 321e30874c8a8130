# LAN tested on Pose-RAF-DB > 30° (RAN's list, specs/datasets.md §7; paper size 1,248; public
# list 1,247 lines): the model trained on the full training set of the parent
# (lan_r18_rafdb.py), evaluated on the subset. List: kaiwang960112/Challenge-condition-FER-
# dataset, RAF_DB_dir/val_raf_db_list.txt → data/pose_lists/. Labels come from the parent's
# annotation; the list digits are only checked against list_classes (agreement logged); the
# list/paper size difference is logged, not padded.
# Test:
#   python tools/test.py configs/lan/lan_r18_rafdb_pose30.py work_dirs/lan_r18_rafdb/epoch_40.pth
_base_ = ['./lan_r18_rafdb.py']
test_dataloader = dict(dataset=dict(
    _delete_=True, type='PoseSubset', list_file='data/pose_lists/RAF_DB_dir/val_raf_db_list.txt',
    list_classes='rafdb', expected_size=1248, dataset={{_base_.val_dataloader.dataset}}))
