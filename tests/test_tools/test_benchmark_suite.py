"""tools/analysis/benchmark.py performance options and ``--suite``, and
tools/analysis/gpu_benchmark.sh (syntax and its CPU dry run). The side-by-side configs mode is
tested in test_analysis_tools.py."""
import copy
import json
import os
import os.path as osp
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from tool_loader import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATA = osp.join(ROOT, 'tests', 'data')
TINY = 'tests/data/configs/tiny_r18.py'
TWO_BRANCH = 'tests/data/configs/tiny_two_branch.py'


@pytest.fixture(scope='module')
def tool():
    return load_tool('tools/analysis/benchmark.py')


def tiny_model(num_classes=3):
    from mmfer.registry import MODELS
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='FERClassifier', data_preprocessor=dict(num_classes=num_classes),
        backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
        head=dict(type='FERClsHead', num_classes=num_classes, in_channels=64)))


def subprocess_env():
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([DATA, ROOT, env.get('PYTHONPATH', '')])
    env['OMP_NUM_THREADS'] = '1'
    return env


def test_channels_last_exact_and_bf16_not(tool):
    """channels_last converts the conv weights and keeps the scores within 1e-5 of NCHW;
    bf16 autocast changes them by more (the column tells the two apart)."""
    model = tiny_model()
    model.eval()
    batch = tool.random_batch(model, 4, (32, 32), seed=1)
    ref = tool.log_scores(tool.infer_fn(model, batch, tool.Setting('ref'), 'cpu')())
    assert ref.shape == (4, 3)
    diffs = {}
    for name in ('channels_last', 'bf16'):
        s = tool.SETTINGS[name]
        m = tool.prepare_model(copy.deepcopy(model), s, 'inference')
        assert m.backbone.conv1.weight.is_contiguous(
            memory_format=torch.channels_last) == s.channels_last
        data = tool.setting_batch(batch, s)
        assert data['inputs'].is_contiguous(memory_format=torch.channels_last) == s.channels_last
        diffs[name] = tool.logit_difference(m, ref, 4, (32, 32), s, 'cpu', 1)
    assert diffs['channels_last'] <= tool.EXACT_TOL
    assert diffs['bf16'] > 1e-4
    # multi-view inputs (N×V×3×H×W) keep their layout: the weights carry the format
    five = dict(inputs=torch.zeros(2, 2, 3, 8, 8, dtype=torch.uint8), data_samples=[])
    assert tool.setting_batch(five, tool.SETTINGS['best'])['inputs'].is_contiguous()


def test_compile_plumbing_without_compiling(tool, monkeypatch):
    """--compile replaces test_step (and train_step only with compile_train) by the
    compile_model result, wrapped so the first call's seconds are reported."""
    import mmfer.utils.performance as perf
    compiled = []

    def fake_compile(fn, mode=None, **kwargs):
        compiled.append((fn.__name__, mode))
        return fn
    monkeypatch.setattr(perf, 'compile_model', fake_compile)
    reported = []
    model = tool.prepare_model(tiny_model(), tool.SETTINGS['best'], 'inference',
                               compile_kw=dict(mode='max-autotune'), report=reported.append)
    assert compiled == [('test_step', 'max-autotune')]
    model.eval()
    out = model.test_step(tool.random_batch(model, 2, (32, 32)))
    assert len(out) == 2 and len(reported) == 1 and reported[0] > 0
    model.test_step(tool.random_batch(model, 2, (32, 32)))
    assert len(reported) == 1  # only the first call
    tool.prepare_model(tiny_model(), tool.SETTINGS['compile'], 'train', compile_train=False)
    assert len(compiled) == 1
    tool.prepare_model(tiny_model(), tool.SETTINGS['compile'], 'train')
    assert compiled[-1] == ('train_step', None)
    args = tool.parse_args([TINY, '--compile', 'reduce-overhead'])
    assert tool.compile_kwargs(args) == dict(mode='reduce-overhead')
    assert tool.compile_kwargs(tool.parse_args([TINY, '--compile'])) == {}


def test_setting_from_args_follows_switches_then_config(tool):
    from mmengine.config import Config
    cfg = Config(dict(channels_last=True, compile=False, amp=None))
    s = tool.setting_from_args(tool.parse_args([TINY]), cfg)
    assert s == tool.Setting('channels_last', True, False, None)
    s = tool.setting_from_args(tool.parse_args([TINY, '--no-channels-last', '--amp', 'bf16']),
                               cfg)
    assert s == tool.Setting('bf16', False, False, 'bf16')
    s = tool.setting_from_args(tool.parse_args([TINY, '--amp']), Config(dict()))
    assert s.amp == 'bf16' and s.name == 'bf16'  # a bare --amp is bf16 on a CPU
    assert tool.setting_from_args(tool.parse_args([TINY]), Config(dict())).name == \
        'fp32 NCHW eager'


def test_parse_methods_and_suite_args(tool, cpu_without_fp16):
    specs = tool.parse_methods(['dan:224', 'qcs', 'x/y/tiny.py:64x48'])
    assert specs[0] == dict(name='dan', config='configs/dan/dan_r18_rafdb.py', shape=[224, 224])
    assert specs[1]['shape'] is None and specs[1]['config'] == 'configs/qcs/qcs_rafdb.py'
    assert specs[2] == dict(name='tiny', config='x/y/tiny.py', shape=[64, 48])
    assert [s['name'] for s in tool.parse_methods(None)] == list(tool.SUITE_METHODS)
    for bad in (['nope'], ['dan:big'], ['dan:1x2x3']):
        with pytest.raises(ValueError, match='--methods'):
            tool.parse_methods(bad)
    for config in tool.SUITE_METHODS.values():
        assert osp.exists(osp.join(ROOT, config)), config
    args = tool.parse_args(['--suite', '--quick'])
    assert (args.shape, args.rounds, args.iters, args.warmup, args.batch_size) == \
        ([112, 112], 2, 2, 1, 32)
    args = tool.parse_args(['--suite'])
    assert args.shape is None and args.settings == ['official', 'best']
    for bad in ([], ['--suite', TINY], ['--suite', '--compile'],
                ['--suite', '--settings', 'fp16'], [TINY, '--amp', 'fp16'],
                ['--suite', '--methods', 'nope']):
        with pytest.raises(SystemExit):
            tool.parse_args(bad)


def test_map_field_shapes_from_the_consuming_loss(tool):
    """A ``*_map`` target field (LAN's guidance_map) is filled with a binary map of the shape
    of the tensor its loss consumes; other fields stay labels."""

    class Loss(torch.nn.Module):
        consumes, target_fields = ('attn_logits', ), ('guidance_map', )

    class Model(torch.nn.Module):
        num_classes = 5
        train_label_fields = ('guidance_map', 'neg_label')

        def __init__(self):
            super().__init__()
            self.loss = Loss()
            self.data_preprocessor = lambda data, training: dict(inputs=data['inputs'].float())

        def extract_feat(self, x):
            return dict(attn_logits=x[:, :1, ::4, ::4], feat=x.mean((2, 3)))

    model = Model()
    fields = tool.train_label_fields(model)
    shapes = tool.map_field_shapes(model, fields, (28, 20))
    assert shapes == {'guidance_map': (1, 7, 5)}
    data = tool.random_batch(model, 3, (28, 20), label_fields=fields, map_shapes=shapes)
    for ds in data['data_samples']:
        assert ds.guidance_map.shape == (1, 7, 5) and ds.guidance_map.dtype == torch.float32
        assert set(ds.guidance_map.unique().tolist()) <= {0.0, 1.0}
        assert ds.neg_label.shape == (1, ) and 0 <= int(ds.neg_label) < 5
    with pytest.raises(KeyError, match='target_fields'):
        tool.map_field_shapes(SimpleNamespace(modules=lambda: []), ['other_map'], (8, 8))


@pytest.mark.skipif(not osp.exists('/proc/self/clear_refs'), reason='Linux /proc needed')
def test_cpu_peak_memory_counts_what_the_work_allocates(tool):
    def work():
        # 64 MiB of fresh anonymous pages, touched. (A torch / malloc allocation may reuse heap
        # pages the process freed earlier and that are still resident — then the peak RSS does
        # not grow by the full size; that happened inside the full test run.)
        import mmap
        m = mmap.mmap(-1, 64 * 2**20)
        for off in range(0, len(m), 4096):
            m[off] = 1
        assert m[len(m) - 4096] == 1
    mib = tool.cpu_peak_memory_mib(work)
    assert 60 <= mib < 120
    assert tool.cpu_peak_memory_mib(lambda: None) < 16

    def fail():
        raise RuntimeError('boom')
    assert tool.cpu_peak_memory_mib(fail) is None


def test_interleaved_ratio_is_median_of_round_ratios(tool, monkeypatch):
    seq = iter([[1.0, 1.0], [0.5, 0.5], [2.0, 2.0], [1.0, 1.0], [1.0, 1.0], [0.25, 0.25]])
    monkeypatch.setattr(tool, '_timed', lambda fn, warmup, iters, device: next(seq))
    res = tool._interleaved(dict(a=None, b=None), rounds=3, iters=2, device='cpu')
    assert res['a']['ratio'] == 1.0
    assert res['b']['ratio'] == pytest.approx(2.0)  # rounds: 1/0.5, 2/1, 1/0.25 → median 2
    assert res['b']['times'] == [0.5, 0.5, 1.0, 1.0, 0.25, 0.25]


def test_suite_on_tiny_configs_writes_the_table(tmp_path):
    """--suite in a subprocess: one row per method × setting, the ratio to the first setting,
    the exact column; the markdown file has the same rows. Memory is off here (one fresh
    process per row and phase, ~5 s each); it is measured by the next test."""
    out_json, out_md = tmp_path / 'suite.json', tmp_path / 'suite.md'
    common = ['--suite', '--methods', TINY, TWO_BRANCH + ':32x24', '--shape', '32',
              '--settings', 'official', 'channels_last', 'bf16', '--batch-size', '2',
              '--train-batch-size', '2', '--rounds', '2', '--iters', '1', '--warmup', '0',
              '--num-threads', '1', '--no-memory']
    tool_py = osp.join(ROOT, 'tools', 'analysis', 'benchmark.py')
    proc = subprocess.run([sys.executable, tool_py] + common + ['--out', str(out_json)],
                          cwd=ROOT, env=subprocess_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out_json.read_text())
    rows = res['rows']
    assert [(r['method'], r['setting']) for r in rows] == [
        (m, s) for m in ('tiny_r18', 'tiny_two_branch')
        for s in ('official', 'channels_last', 'bf16')]
    assert [r['shape'] for r in rows] == [[32, 32]] * 3 + [[32, 24]] * 3
    for r in rows:
        if r['setting'] == 'official':
            assert r['infer_ratio'] == 1.0 and r['train_ratio'] == 1.0
            assert r['max_logp_diff'] == 0.0
        assert r['exact'] == (r['setting'] != 'bf16')
        assert r['infer_img_s'] > 0 and r['train_samples_s'] > 0
        assert r['infer_batch'] == 2 and r['train_batch'] == 2
        assert r['infer_peak_mib'] is None and r['train_peak_mib'] is None
    assert rows[3]['num_views'] == 2
    assert res['environment']['settings'] == ['official', 'channels_last', 'bf16']
    # the printed table
    table = [ln for ln in proc.stdout.splitlines() if ln.startswith('| ')]
    assert table[0].split(' | ')[:5] == ['| method', 'setting', 'input', 'infer img/s (b2)',
                                          'x official']
    assert 'train samples/s (b2)' in table[0] and 'train peak MiB' in table[0]
    assert len(table) == 1 + 6
    assert table[3].startswith('| tiny_r18 | bf16 | 32x32 |') and '| no |' in table[3]


def test_gpu_benchmark_script_syntax_and_dry_run(tmp_path):
    script = osp.join(ROOT, 'tools', 'analysis', 'gpu_benchmark.sh')
    assert subprocess.run(['bash', '-n', script]).returncode == 0
    bad = subprocess.run(['bash', script, '--bogus'], capture_output=True, text=True)
    assert bad.returncode == 2 and 'unknown argument' in bad.stderr
    env = subprocess_env()
    env['PYTHON'] = sys.executable
    proc = subprocess.run(['bash', script, '--dry-run', '--out-dir', str(tmp_path)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    md = (tmp_path / 'gpu_benchmark.md').read_text()
    assert md.startswith('# GPU benchmark (dry run on the CPU, tiny configs)')
    # the GPU-only tests ran as the first step: skipped without a GPU, reported either way
    gpu = 'passed, 0 failed, 0 skipped' if torch.cuda.is_available() else \
        '2 run, 0 passed, 0 failed, 2 skipped'
    assert 'GPU-only tests (tests/test_engine/test_performance_amp.py -k gpu): ' in md
    assert gpu in md
    suite = json.loads((tmp_path / 'suite.json').read_text())
    assert [r['setting'] for r in suite['rows']] == ['official', 'channels_last', 'bf16']
    assert osp.getsize(tmp_path / 'suite.png') > 1000  # the ratio chart
    assert '| tiny_synthfer | channels_last | 32x32 |' in md
    if osp.exists(osp.join(ROOT, 'tools', 'analysis', 'benchmark_pipeline.py')):
        assert '## Is the GPU data-bound?' in md
        row = [ln for ln in md.splitlines() if ln.startswith('| tests/data/configs/tiny_synth')]
        assert len(row) == 1 and row[0].rstrip().endswith(('| yes |', '| no |'))


def test_suite_shares_equal_training_rows_and_best_trains_fused(tool, monkeypatch, capsys):
    """With compile an inference-only option, ``compile`` trains as ``official`` does: the
    training step is measured once and both rows carry it. ``best`` inference is compiled with
    freezing; ``best`` training is channels_last with the fused optimizer step, its own row."""
    import mmfer.utils.performance as perf
    compiled = []
    monkeypatch.setattr(perf, 'compile_model',
                        lambda fn, mode=None, **kw: compiled.append((fn.__name__, kw)) or fn)
    fused = []
    real = perf.fused_optimizer_cfg
    monkeypatch.setattr(perf, 'fused_optimizer_cfg', lambda ow: fused.append(1) or real(ow))
    out = tool.main(['--suite', '--methods', TINY, '--shape', '32', '--settings', 'official',
                     'compile', 'best', '--batch-size', '2', '--train-batch-size', '2',
                     '--rounds', '1', '--iters', '1', '--warmup', '0', '--no-memory'])
    official, comp, best = out['rows']
    assert compiled == [('test_step', {}), ('test_step', dict(freeze=True))]
    assert comp['train_same_as'] == 'official' and 'train_same_as' not in official
    assert comp['train_samples_s'] == official['train_samples_s']
    assert comp['train_options'] == official['train_options']
    assert 'train_same_as' not in best and len(fused) == 1  # best's optimizer only
    assert best['train_options']['fused'] and best['train_options']['channels_last']
    assert not best['train_options']['compile'] and not best['train_options']['freeze']
    assert len(best['train_round_ratios']) == 1 and len(best['infer_times_s']) == 1
    assert best['infer_peak_mib'] is None and best['exact']
    assert '| tiny_r18 | compile (train: = official) | 32x32 |' in out['markdown']
    assert '| tiny_r18 | best (train: no compile) | 32x32 |' in out['markdown']


@pytest.mark.skipif(not osp.exists('/proc/self/clear_refs'), reason='Linux /proc needed')
def test_cpu_memory_of_a_training_step_after_compile_and_backward(tmp_path):
    """The suite measures training memory after it has compiled (inference) and run backward
    passes in its own process; torch then refuses autograd in a forked child (the DAN
    acceptance run lost every training peak-memory figure to this). The measurement runs in a
    fresh process and gets a figure."""
    script = tmp_path / 'after_compile.py'
    script.write_text(f'''
import sys, torch
sys.path.insert(0, {osp.join(ROOT, 'tests')!r})
from types import SimpleNamespace
from mmengine.config import Config
from tool_loader import load_tool
tool = load_tool('tools/analysis/benchmark.py')
lin = torch.nn.Linear(3, 2)
with torch.no_grad():
    torch.compile(lin, backend='eager')(torch.randn(2, 3))  # enough to trip the fork check
lin(torch.randn(2, 3)).sum().backward()
cfg = Config.fromfile({osp.join(ROOT, TINY)!r})
args = SimpleNamespace(no_memory=False, device='cpu', seed=0, label_fields=[], num_threads=1)
for phase in ('train', 'inference'):
    s = tool.Setting('channels_last', channels_last=True)
    print('MIB', tool.measure_memory(cfg, s, phase, 2, (32, 32), args))
''')
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=subprocess_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('MIB ')]
    assert len(lines) == 2 and 'MIB None' not in lines, proc.stderr[-3000:]
    train, infer = (float(ln.split()[1]) for ln in lines)
    assert train > infer > 0  # gradients and optimizer state on top of the weights


def test_suite_out_files_keep_the_methods_finished_before_a_stop(tool, monkeypatch, tmp_path):
    """--out is rewritten after each method, so a suite stopped part-way (the GPU script's
    per-step timeout) keeps what it measured."""
    real = tool.suite_method
    calls = []

    def stop_at_second(spec, settings, args):
        calls.append(spec['name'])
        if len(calls) == 2:
            raise KeyboardInterrupt  # what a timeout's signal looks like to the loop
        return real(spec, settings, args)

    monkeypatch.setattr(tool, 'suite_method', stop_at_second)
    out_json, out_md = tmp_path / 's.json', tmp_path / 's.md'
    with pytest.raises(KeyboardInterrupt):
        tool.main(['--suite', '--methods', TINY, TWO_BRANCH, '--shape', '32', '--settings',
                   'official', '--batch-size', '2', '--no-train', '--rounds', '1', '--iters',
                   '1', '--warmup', '0', '--no-memory', '--out', str(out_json), str(out_md)])
    saved = json.load(open(out_json))
    assert [r['method'] for r in saved['rows']] == ['tiny_r18']
    assert saved['rows'][0]['infer_img_s'] > 0
    assert '| tiny_r18 | official | 32x32 |' in out_md.read_text()


def test_device_wheels_script_pins_the_constraints():
    """tools/analysis/device_wheels.sh fetches the mm* packages for the GPU machine at the
    versions of requirements/constraints.txt (a pin moved in one place only would run the GPU
    benchmark on other versions than the tests)."""
    import re
    script = osp.join(ROOT, 'tools', 'analysis', 'device_wheels.sh')
    assert subprocess.run(['bash', '-n', script]).returncode == 0
    text = open(script).read()
    pins = dict(re.findall(r'^([A-Za-z0-9_.-]+)==([^\s#]+)',
                           open(osp.join(ROOT, 'requirements', 'constraints.txt')).read(), re.M))
    wanted = dict(re.findall(r'([a-z][a-z0-9_.-]*)==([0-9][^\s)]*)',
                             text.split('PACKAGES=(', 1)[1].split(')', 1)[0]))
    for name in ('mmengine', 'mmcv-lite', 'mmpretrain'):
        assert wanted[name] == pins[name], name
    assert len(wanted) == 12


def test_suite_png_draws_the_ratios(tool, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(DATA)  # the two-branch config's custom model module
    png = tmp_path / 'suite.png'
    out = tool.main(['--suite', '--methods', TINY, TWO_BRANCH, '--shape', '32', '--settings',
                     'official', 'channels_last', '--batch-size', '2', '--train-batch-size', '2',
                     '--rounds', '1', '--iters', '1', '--warmup', '0', '--no-memory',
                     '--out', str(png)])
    from PIL import Image
    assert Image.open(png).size[0] >= 600
    drawn = tool.suite_plot(out['rows'], str(tmp_path / 'again.png'))
    by = {(r['method'], r['setting']): r for r in out['rows']}
    methods = ['tiny_r18', 'tiny_two_branch']
    for phase, key in (('inference', 'infer_ratio'), ('training', 'train_ratio')):
        assert drawn[phase]['official'] == [1.0, 1.0]
        assert drawn[phase]['channels_last'] == [by[(m, 'channels_last')][key] for m in methods]
    assert drawn['failed'] == []
    # a failed method gets no bars and is named on the chart, not dropped silently
    rows = out['rows'] + [dict(method='broken', config='x.py', error='ValueError: x')]
    drawn = tool.suite_plot(rows, str(tmp_path / 'failed.png'))
    assert drawn['failed'] == ['broken'] and len(drawn['inference']['official']) == 2
    with pytest.raises(SystemExit):
        tool.parse_args([TINY, '--out', str(png)])  # a chart of the suite only
