"""tools/analysis/perf_options.py: the optimizer-step comparison (loop vs fused=True)."""
import os.path as osp

import pytest
from tool_loader import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
pytestmark = pytest.mark.usefixtures('one_thread')


def test_optimizer_step_loop_against_fused(capsys):
    tool = load_tool('tools/analysis/perf_options.py')
    res = tool.main(['--optimizer-step', osp.join(ROOT, 'tests/data/configs/tiny_synthfer.py'),
                     '--rounds', '2', '--iters', '2', '--num-threads', '1'])
    assert res['optimizer'] == 'SGD' and res['tensors'] > 4 and res['numel'] > 1000
    assert set(res['median_ms']) == {'loop', 'fused'}
    assert all(v > 0 for v in res['median_ms'].values()) and res['speedup_median'] > 0
    # the same update: same start, same gradients, 5 steps each, rounding apart at most
    assert res['max_abs_param_diff'] < 1e-6
    assert '"speedup_median"' in capsys.readouterr().out


def test_optimizer_step_refuses_an_optimizer_without_a_fused_step(tmp_path):
    cfg = tmp_path / 'rms.py'
    cfg.write_text(f"_base_ = ['{osp.join(ROOT, 'tests/data/configs/tiny_synthfer.py')}']\n"
                   "optim_wrapper = dict(optimizer=dict(_delete_=True, type='RMSprop', lr=0.1))\n")
    tool = load_tool('tools/analysis/perf_options.py')
    with pytest.raises(ValueError, match="'RMSprop' has no fused step"):
        tool.main(['--optimizer-step', str(cfg), '--rounds', '1', '--iters', '1'])


def test_speed_reports_mac_rates_and_the_gemm_yardstick():
    tool = load_tool('tools/analysis/perf_options.py')
    res = tool.main(['--speed', osp.join(ROOT, 'tests/data/configs/tiny_synthfer.py'),
                     '--shape', '32', '--batch-size', '2', '--options', 'channels_last',
                     '--rounds', '1', '--iters', '1', '--num-threads', '1', '--gemm-peak', '128'])
    from mmfer.apis import build_model
    from mmfer.utils.flops import count_model_flops, load_config
    model = build_model(load_config(osp.join(ROOT, 'tests/data/configs/tiny_synthfer.py')), 'cpu')
    assert res['gmacs_per_image'] == count_model_flops(model.eval(), (3, 32, 32)).macs / 1e9
    assert set(res['gmac_per_s']) == {'eager', 'channels_last'}
    for name, rate in res['gmac_per_s'].items():  # MACs of the batch / the call's median time
        assert rate == pytest.approx(res['gmacs_per_image'] * 2 / res['median_s'][name])
        assert res['share_of_gemm'][name] == pytest.approx(rate / res['gemm']['gmac_per_s'])
    assert res['gemm']['n'] == 128 and res['gemm']['gmac_per_s'] > 0
