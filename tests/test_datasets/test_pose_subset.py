"""PoseSubset (pose_subset.py): RAN-style pose lists as a filter of the parent dataset by file
name (datasets.md §7) on a tiny RAF-DB in its release layout; keys of the three list formats,
counts and the paper-size report, label sources, missing names."""
import gc
import os

import cv2
import numpy as np
import pytest

from mmfer.datasets.base import FERDataError
from mmfer.datasets.pose_subset import PoseSubset, image_key, read_pose_list
from mmfer.datasets.rafdb import RAFDB

gc.freeze()


def make_rafdb(root, items):
    """items: (name, 1-based label) → EmoLabel/list_patition_label.txt + aligned JPEGs."""
    os.makedirs(root / 'EmoLabel', exist_ok=True)
    (root / 'EmoLabel' / 'list_patition_label.txt').write_text(
        ''.join(f'{n} {lab}\n' for n, lab in items))
    os.makedirs(root / 'Image' / 'aligned', exist_ok=True)
    for n, lab in items:
        cv2.imwrite(str(root / 'Image' / 'aligned' / f'{n[:-4]}_aligned.jpg'),
                    np.full((10, 12, 3), 20 * lab, np.uint8))


ITEMS = [('train_00001.jpg', 5), ('test_0001.jpg', 4), ('test_0002.jpg', 6),
         ('test_0003.jpg', 1), ('test_0004.jpg', 7)]


def test_keys_of_the_three_list_formats():
    assert image_key('3/test_0012_aligned.jpg') == 'test_0012'
    assert image_key('5/fer0032222.jpg') == 'fer0032222'
    hexname = 'a' * 56
    assert image_key(f'0/{hexname}.jpg') == hexname
    assert image_key(f'7/{hexname}/8.jpg') == hexname  # the > 45° AffectNet list
    assert image_key('/data/rafdb/Image/aligned/test_0012_aligned.jpg') == 'test_0012'


def test_rafdb_subset_counts_labels_and_paper_size(tmp_path, caplog):
    make_rafdb(tmp_path, ITEMS)
    lst = tmp_path / 'val_raf_db_list.txt'
    # digits in RAF-DB 0-based order: test_0001 label 4 → 3, test_0003 label 1 → 0; one wrong
    lst.write_text('3/test_0001_aligned.jpg\n0/test_0003_aligned.jpg\n2/test_0004_aligned.jpg\n')
    parent = dict(type='RAFDB', data_root=str(tmp_path), split='test')
    raf = RAFDB(data_root=str(tmp_path), split='test')
    sub = PoseSubset(parent, str(lst), list_classes=raf.metainfo['classes'], expected_size=4)
    assert len(sub) == 3 and sub.num_lines == 3
    assert sub.get_gt_labels().tolist() == [3, 0, 6]  # from the parent annotation
    assert sub.get_data_info(1)['img_path'].endswith('test_0003_aligned.jpg')
    assert sub.agreement == pytest.approx(2 / 3)
    assert sub.counts['Happiness'] == 1 and sum(sub.counts.values()) == 3
    listed = PoseSubset(parent, str(lst), label_source='list', list_classes='rafdb')
    assert listed.get_gt_labels().tolist() == [3, 0, 2]  # the digits


def test_report_line_names_the_shortfall(tmp_path):
    make_rafdb(tmp_path, ITEMS)
    lst = tmp_path / 'list.txt'
    lst.write_text('3/test_0001_aligned.jpg\n0/test_0003_aligned.jpg\n')
    sub = PoseSubset(dict(type='RAFDB', data_root=str(tmp_path), split='test'), str(lst),
                     expected_size=3)
    assert sub.report.startswith('PoseSubset list.txt: 2 lines, 2 images of RAFDB kept; the '
                                 'paper states 3 (-1, reported, not padded); per class')


def test_missing_names_raise_with_the_line_or_are_reported(tmp_path):
    make_rafdb(tmp_path, ITEMS)
    lst = tmp_path / 'list.txt'
    lst.write_text('3/test_0001_aligned.jpg\n\n1/test_0999_aligned.jpg\n')
    parent = dict(type='RAFDB', data_root=str(tmp_path), split='test')
    with pytest.raises(FERDataError, match=r"line 3.*test_0999.*on_missing='report'"):
        PoseSubset(parent, str(lst))
    sub = PoseSubset(parent, str(lst), on_missing='report')
    assert len(sub) == 1 and sub.missing == ['test_0999']
    with pytest.raises(ValueError, match='list_classes'):
        PoseSubset(parent, str(lst), label_source='list')
    with pytest.raises(FileNotFoundError, match='RAN lists'):
        read_pose_list(str(tmp_path / 'nope.txt'))


@pytest.mark.parametrize('deg', [30, 45])
def test_synthfer_yaw_subset_configs_select_the_annotated_poses(tmp_path, deg):
    """configs/lan/lan_r18_synthfer_pose{30,45}.py on SynthFER written by the writer: the test
    images with |yaw| > 30° / > 45° of synthfer_annotations.json, with their labels."""
    import json
    import os.path as osp
    import sys
    from mmengine.config import Config
    from mmfer.registry import DATASETS
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    sys.path.insert(0, osp.join(root, 'tools', 'dataset_converters'))
    import synthfer_writer
    out = tmp_path / 'synthfer_rafdb'
    synthfer_writer.main(['--out', str(out), '--format', 'rafdb', '--num-train', '7',
                          '--num-test', '80', '--size', '32', '--workers', '1'])
    ann = json.load(open(out / 'synthfer_annotations.json'))['images']
    want = {osp.basename(a['file']).replace('_aligned.jpg', ''): a['label'] for a in ann
            if a['split'] == 'test' and abs(a['yaw']) > deg}
    assert 0 < len(want) < 80
    cfg = Config.fromfile(osp.join(root, 'configs', 'lan', f'lan_r18_synthfer_pose{deg}.py'))
    ds_cfg = cfg.test_dataloader.dataset
    assert ds_cfg.type == 'PoseSubset' and ds_cfg.dataset.split == 'test'
    ds_cfg.list_file = str(out / 'subsets' / f'test_pose{deg}.txt')
    ds_cfg.dataset.data_root = str(out)
    sub = DATASETS.build(ds_cfg)
    got = {image_key(sub.get_data_info(i)['img_path']): int(sub.get_gt_labels()[i])
           for i in range(len(sub))}
    assert got == want
