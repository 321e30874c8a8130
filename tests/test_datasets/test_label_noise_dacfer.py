"""DacFER's noisy-label protocol on a RAF-DB-format train list of 12,271 rows (dacfer.md §3)."""
import numpy as np
import pytest

from mmfer.datasets.label_noise import LabelNoiseDataset

RAF_TRAIN = np.repeat(np.arange(7), [1290, 281, 717, 4772, 1982, 705, 2524])  # 12,271


@pytest.fixture(scope='module')
def rafdb_root(tmp_path_factory):
    """A RAF-DB ``basic`` folder with the 12,271 train rows (1-based labels) and 3 test rows;
    images are not written (``check_files=False``): the labels are what is tested."""
    root = tmp_path_factory.mktemp('rafdb')
    (root / 'EmoLabel').mkdir()
    (root / 'Image' / 'aligned').mkdir(parents=True)
    order = np.random.default_rng(0).permutation(len(RAF_TRAIN))  # classes interleaved
    lines = [f'train_{i + 1:05d}.jpg {RAF_TRAIN[j] + 1}' for i, j in enumerate(order)]
    lines += ['test_0001.jpg 1', 'test_0002.jpg 2', 'test_0003.jpg 3']
    (root / 'EmoLabel' / 'list_patition_label.txt').write_text('\n'.join(lines) + '\n')
    return root


def base(root):
    return dict(type='RAFDB', data_root=str(root), split='train', check_files=False)


@pytest.mark.parametrize('ratio,changed', [(0.1, 1227), (0.2, 2454), (0.3, 3681)])
def test_exact_mode_changes_round_pN_labels_never_to_the_original(rafdb_root, ratio, changed):
    ds = LabelNoiseDataset(base(rafdb_root), ratio=ratio, mode='exact', seed=0)
    clean, noisy = ds.get_clean_labels(), ds.get_gt_labels()
    assert len(ds) == 12271 and ds.num_changed == changed
    assert int((clean != noisy).sum()) == changed
    assert np.bincount(clean, minlength=7).tolist() == [1290, 281, 717, 4772, 1982, 705, 2524]
    info = ds.get_data_info(int(np.argmax(clean != noisy)))
    assert info['gt_label'] != info['gt_label_clean']


@pytest.mark.parametrize('changed', [1241, 2498, 3722])
def test_file_mode_reproduces_the_changed_rows_of_a_noise_file(rafdb_root, tmp_path, changed):
    """A file in EAC's noiseXX.txt format (12,271 rows, 1-based) with ``changed`` rows differing
    from the clean list (EAC's counts) gives exactly that many changed labels."""
    ann = (rafdb_root / 'EmoLabel' / 'list_patition_label.txt').read_text().split('\n')
    rows = [line.split() for line in ann if line.startswith('train')]
    rng = np.random.default_rng(changed)
    flip = set(rng.choice(len(rows), changed, replace=False).tolist())
    out = [f'{n} {(int(lab) - 1 + 1 + rng.integers(0, 6)) % 7 + 1 if i in flip else lab}'
           for i, (n, lab) in enumerate(rows)]
    noise = tmp_path / 'noise.txt'
    noise.write_text('\n'.join(out) + '\n')
    ds = LabelNoiseDataset(base(rafdb_root), mode='file', noise_file=str(noise))
    assert ds.num_changed == changed
    assert ds.num_changed / len(ds) == pytest.approx(changed / 12271)
