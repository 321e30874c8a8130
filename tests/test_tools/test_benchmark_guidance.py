"""tools/analysis/benchmark_guidance.py on a tiny synthetic set: one row per backend, the three
backends find the same attentive positions, JSON written."""
import json
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
import benchmark_guidance  # noqa: E402


def test_benchmark_rows_and_json(tmp_path):
    out = tmp_path / 'bench.json'
    res = benchmark_guidance.main(['--num-images', '200', '--positions', '4', '--channels', '8',
                                   '--restarts', '2', '--out', str(out)])
    assert [r['backend'] for r in res['backends']] == ['exact', 'memmap', 'minibatch']
    assert all(r['attentive_positions'] == 4 for r in res['backends'])
    for r in res['backends']:
        assert r['seconds_per_1000'] == round(r['seconds'] * 5, 3) or \
            abs(r['seconds_per_1000'] - r['seconds'] * 5) < 0.01
    # exact holds the 200 × 4 × 8 float32 features (25,600 bytes) at least
    assert res['backends'][0]['peak_traced_bytes'] >= 200 * 4 * 8 * 4
    assert json.load(open(out))['memory_estimate'].startswith(
        'guidance features: 200 images × 4 positions × 8 channels × 4 bytes = 25,600 bytes')
