"""ExtraClassSamples: minority classes of other datasets added to a training set, by class name."""
import cv2
import numpy as np
import pytest

from mmfer.datasets.extra_samples import ExtraClassSamples
from mmfer.registry import DATASETS, DATA_SAMPLERS

AFFECTNET8 = ('Neutral', 'Happiness', 'Sadness', 'Surprise', 'Fear', 'Disgust', 'Anger',
              'Contempt')
RAFDB = ('Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral')
FERPLUS = ('Neutral', 'Happiness', 'Surprise', 'Sadness', 'Anger', 'Disgust', 'Fear',
           'Contempt')
PIPE = [dict(type='LoadFERImage'), dict(type='PackInputs', algorithm_keys=['source'])]


def make_list(root, name, labels):
    """A list-file dataset of 4×4 images whose pixel value encodes (dataset, index)."""
    d = root / name
    d.mkdir()
    lines = []
    for i, lab in enumerate(labels):
        cv2.imwrite(str(d / f'{i}.png'), np.full((4, 4, 3), i, np.uint8))
        lines.append(f'{i}.png {lab}')
    (d / 'list.txt').write_text('\n'.join(lines) + '\n')
    return dict(type='FERListDataset', ann_file=str(d / 'list.txt'), data_prefix=str(d),
                pipeline=PIPE)


@pytest.fixture
def sources(tmp_path):
    main = make_list(tmp_path, 'affectnet', [0, 1, 1, 2, 3, 6, 7])        # one Contempt
    main['classes'] = AFFECTNET8
    raf = make_list(tmp_path, 'raf', [0, 1, 1, 2, 3, 6, 5, 2])            # Fear ×2, Disgust ×2
    raf['classes'] = RAFDB
    fer = make_list(tmp_path, 'fer', [7, 6, 0, 5, 7, 1])                  # Contempt ×2, Fear, Disgust
    fer['classes'] = FERPLUS
    return main, raf, fer


def test_labels_are_remapped_by_name(sources):
    main, raf, fer = sources
    ds = DATASETS.build(dict(type='ExtraClassSamples', dataset=main, extra_sources=[raf, fer],
                             classes_to_add=('fear', 'Disgust', 'Contempt')))
    assert ds.metainfo['classes'] == AFFECTNET8
    # main 7 + RAF-DB Fear 2 / Disgust 2 (no Contempt there) + FERPlus Contempt 2 / Fear 1 / Disgust 1
    assert len(ds) == 7 + 4 + 4
    fear, disgust, contempt = 4, 5, 7   # AffectNet order
    np.testing.assert_array_equal(
        ds.get_gt_labels(),
        [0, 1, 1, 2, 3, 6, 7] + [fear, fear, disgust, disgust] + [contempt, fear, disgust, contempt])
    assert ds.added == {'0:FERListDataset': {'Fear': 2, 'Disgust': 2, 'Contempt': 0},
                        '1:FERListDataset': {'Fear': 1, 'Disgust': 1, 'Contempt': 2}}
    # RAF-DB indices 1, 2 (Fear) and 7 (Disgust) come from the raf folder, pixel value = index
    item = ds[7]
    assert int(item['data_samples'].gt_label) == fear and item['data_samples'].source == 0
    assert item['inputs'].flatten()[0] == 1
    item = ds[10]
    assert int(item['data_samples'].gt_label) == disgust and item['inputs'].flatten()[0] == 7
    item = ds[11]   # FERPlus index 0: Contempt
    assert int(item['data_samples'].gt_label) == contempt and item['data_samples'].source == 1
    assert item['inputs'].flatten()[0] == 0
    # main samples are unchanged
    assert int(ds[6]['data_samples'].gt_label) == 7 and ds[6]['inputs'].flatten()[0] == 6
    assert ds.get_cat_ids(12) == [fear]
    with pytest.raises(IndexError, match='out of range'):
        ds.get_data_info(len(ds))


def test_composes_with_quadruplets_and_balanced_sampling(sources):
    main, raf, fer = sources
    cfg = dict(type='QuadrupletDataset', num_branches=4, negative_mode='balanced', seed=0,
               dataset=dict(type='ExtraClassSamples', dataset=main, extra_sources=[raf, fer],
                            classes_to_add=('Fear', 'Disgust', 'Contempt')))
    quad = DATASETS.build(cfg)
    labels = quad.get_gt_labels()
    assert len(labels) == 15
    sampler = DATA_SAMPLERS.build(dict(type='ClassBalancedSampler', dataset=quad, num_samples=1.0))
    idx = list(iter(sampler))
    assert len(idx) == 15 and all(0 <= i < 15 for i in idx)
    item = quad[11]
    # anchor and positive share the anchor's (remapped) class
    assert int(item['data_samples'].gt_label) == 7


def test_errors(sources):
    main, raf, fer = sources
    # a 7-class main dataset (RAF-DB order) has no Contempt to add to
    with pytest.raises(ValueError, match=r"classes_to_add \['Contempt'\] are not classes"):
        ExtraClassSamples(raf, [fer], classes_to_add=('Fear', 'Contempt'))
    with pytest.raises(ValueError, match='extra_sources is empty'):
        ExtraClassSamples(main, [], classes_to_add=('Fear', ))
    with pytest.raises(TypeError, match=r'extra_sources\[0\]: object has no get_gt_labels\(\)'):
        ExtraClassSamples(main, [object()])
    # a source with none of the asked classes is a configuration mistake, not a silent no-op
    with pytest.raises(ValueError, match=r"extra_sources\[1\] \(FERListDataset, 8 samples.*"
                                         r"has no sample of classes_to_add \['Contempt'\]"):
        ExtraClassSamples(main, [fer, raf], classes_to_add=('Contempt', ))
