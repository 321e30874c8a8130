import numpy as np
import pytest

from mmfer.datasets.class_maps import (CANONICAL_CLASSES, CLASS_ORDERS, canonical_name,
                                       remap_labels, remap_vector, resolve_classes)


@pytest.mark.parametrize('src,dst,vector', [
    ('rafdb', 'affectnet', (3, 4, 5, 1, 2, 6, 0)),
    ('affectnet7', 'rafdb', (6, 3, 4, 0, 1, 2, 5)),
    ('ferplus7', 'rafdb', (6, 3, 0, 4, 5, 2, 1)),
    ('rafdb', 'ferplus', (2, 6, 5, 1, 3, 4, 0)),
    ('affectnet', 'ferplus', (0, 1, 3, 2, 6, 5, 4, 7)),
    ('ferplus', 'affectnet', (0, 1, 3, 2, 6, 5, 4, 7)),
    ('fer2013', 'rafdb', (5, 2, 1, 3, 4, 0, 6)),
])
def test_remap_vectors_of_spec_table(src, dst, vector):
    assert remap_vector(src, dst) == vector


def test_native_orders():
    assert CLASS_ORDERS['rafdb'] == ('Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness',
                                     'Anger', 'Neutral')
    assert CLASS_ORDERS['affectnet'] == ('Neutral', 'Happiness', 'Sadness', 'Surprise', 'Fear',
                                         'Disgust', 'Anger', 'Contempt')
    assert CLASS_ORDERS['ferplus'] == ('Neutral', 'Happiness', 'Surprise', 'Sadness', 'Anger',
                                       'Disgust', 'Fear', 'Contempt')
    assert len(CANONICAL_CLASSES) == 8


def test_round_trips():
    labels = np.arange(7)
    there = remap_labels(labels, 'rafdb', 'affectnet')
    np.testing.assert_array_equal(remap_labels(there, 'affectnet7', 'rafdb'), labels)
    v = np.array(remap_vector('affectnet', 'ferplus'))
    np.testing.assert_array_equal(v[v], np.arange(8))  # its own inverse
    # every order maps onto itself by the identity
    for name in CLASS_ORDERS:
        assert remap_vector(name, name) == tuple(range(len(CLASS_ORDERS[name])))


def test_aliases_and_errors(tmp_path):
    assert [canonical_name(n) for n in ('surprised', 'AFRAID', 'Fearful', 'disgusted', 'Happy',
                                        'sad', 'Angry', 'neutral', 'Contempt')] == [
        'Surprise', 'Fear', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral',
        'Contempt']
    assert resolve_classes(['Angry', 'happy']) == ('Anger', 'Happiness')
    f = tmp_path / 'classes.txt'
    f.write_text('Sad\nSurprised\n')
    assert resolve_classes(str(f)) == ('Sadness', 'Surprise')
    assert resolve_classes(['Foo', 'Sad'], canonical=False) == ('Foo', 'Sadness')
    with pytest.raises(KeyError, match='unknown expression name'):
        canonical_name('Bored')
    with pytest.raises(ValueError, match='same class twice'):
        resolve_classes(['Happy', 'Happiness'])
    with pytest.raises(ValueError, match='neither a preset'):
        resolve_classes('no_such_preset')
    with pytest.raises(ValueError, match=r"\['Contempt'\].*num_classes=7"):
        remap_vector('affectnet', 'rafdb')
    with pytest.raises(ValueError, match='0..6'):
        remap_labels([7], 'rafdb', 'affectnet')
