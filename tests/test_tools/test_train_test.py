"""tools/train.py, tools/test.py and tools/dist_train.sh run as subprocesses on tiny SynthFER."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

import mmfer  # noqa: F401  (safe globals for loading the checkpoints below)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')
# lead_hooks.py is imported by module name (a `tests` package elsewhere may shadow ours)
PYPATH = os.pathsep.join([ROOT, osp.join(ROOT, 'tests', 'data'),
                          os.environ.get('PYTHONPATH', '')])


def derived_config(tmp_path, hooks: str, **overrides) -> str:
    """A config inheriting the tiny one with extra test hooks (``--cfg-options`` cannot
    express a list of dicts)."""
    lines = [f"_base_ = [{CFG!r}]",
             "custom_imports = dict(imports=['lead_hooks'], "
             "allow_failed_imports=False)",
             f"custom_hooks = [{hooks}]"]  # RunInfoHook is a default hook
    lines += [f'{k} = {v!r}' for k, v in overrides.items()]
    path = tmp_path / 'derived_cfg.py'
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def run(args, timeout=600, expect_ok=True):
    env = dict(os.environ, PYTHONPATH=PYPATH,
               OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if expect_ok and proc.returncode != 0:
        raise AssertionError(f'{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
    return proc


def train(work_dir, *extra):
    return run([sys.executable, 'tools/train.py', CFG, '--work-dir', str(work_dir), *extra])


def weights(path):
    return torch.load(path, map_location='cpu', weights_only=True)['state_dict']


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp('train')
    train(work)
    return work


def test_train_writes_reproducibility_record(trained):
    info = json.load(open(trained / 'run_info.json'))
    assert info['seed'] == 0
    assert info['git'] != ''
    train_split = info['splits']['train']
    assert train_split['classes'] == ['Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness',
                                      'Anger', 'Neutral']
    assert sum(train_split['counts'].values()) == 32
    assert info['splits']['val']['num_samples'] == 16
    assert 'PyTorch' in info['env']
    ckpt = torch.load(trained / 'epoch_3.pth', map_location='cpu', weights_only=True)
    assert ckpt['meta']['classes'] == train_split['classes']
    assert ckpt['meta']['input_cfg']['mean'] == [123.675, 116.28, 103.53]
    assert ckpt['meta']['input_cfg']['test_pipeline'] == [{'type': 'PackInputs'}]
    assert osp.exists(trained / 'tiny_synthfer.py')  # resolved config dumped by mmengine


def test_test_tool_prints_table_and_writes_figures(trained, tmp_path):
    proc = run([sys.executable, 'tools/test.py', CFG, str(trained / 'epoch_3.pth'),
                '--work-dir', str(tmp_path), '--out', str(tmp_path / 'preds.pkl')])
    assert '| fer/mean_class_accuracy' in proc.stdout + proc.stderr
    metrics = json.load(open(tmp_path / 'metrics.json'))
    cm = torch.tensor(metrics['confusion_matrix'])
    assert cm.shape == (7, 7) and int(cm.sum()) == 16
    acc = 100 * float(cm.diag().sum()) / 16
    assert metrics['metrics']['fer/accuracy'] == pytest.approx(acc)
    assert osp.getsize(tmp_path / 'confusion_matrix.png') > 1000
    assert osp.getsize(tmp_path / 'preds.pkl') > 0


def test_test_tool_rejects_wrong_class_order(trained, tmp_path):
    ckpt = torch.load(trained / 'epoch_3.pth', map_location='cpu', weights_only=True)
    ckpt['meta']['classes'] = list(reversed(ckpt['meta']['classes']))
    bad = tmp_path / 'reordered.pth'
    torch.save(ckpt, bad)
    proc = run([sys.executable, 'tools/test.py', CFG, str(bad), '--work-dir', str(tmp_path)],
               expect_ok=False)
    assert proc.returncode != 0
    assert 'was trained with classes' in proc.stderr


def test_head_class_count_mismatch_is_an_error(tmp_path):
    proc = run([sys.executable, 'tools/train.py', CFG, '--work-dir', str(tmp_path),
                '--cfg-options', 'model.head.num_classes=5'], expect_ok=False)
    assert proc.returncode != 0
    assert 'num_classes=5' in proc.stderr and 'has 7 classes' in proc.stderr


def test_same_seed_same_result(trained, tmp_path):
    train(tmp_path)
    a, b = weights(trained / 'epoch_3.pth'), weights(tmp_path / 'epoch_3.pth')
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_after_interruption_matches_uninterrupted(trained, tmp_path):
    cfg = derived_config(tmp_path, "dict(type='InterruptAfterEpochHook', epoch=2)")
    proc = run([sys.executable, 'tools/train.py', cfg, '--work-dir', str(tmp_path)],
               expect_ok=False)
    assert proc.returncode != 0 and 'simulated interruption' in proc.stderr
    assert osp.exists(tmp_path / 'epoch_2.pth') and not osp.exists(tmp_path / 'epoch_3.pth')
    proc = train(tmp_path, '--resume')  # the plain config: nothing interrupts now
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 2' in log and 'restored Python / numpy / torch RNG' in log
    a, b = weights(trained / 'epoch_3.pth'), weights(tmp_path / 'epoch_3.pth')
    assert all(torch.equal(a[k], b[k]) for k in a), 'resumed run diverged'
    ca = torch.load(trained / 'epoch_3.pth', map_location='cpu', weights_only=True)
    cb = torch.load(tmp_path / 'epoch_3.pth', map_location='cpu', weights_only=True)
    assert ca['optimizer']['param_groups'][0]['lr'] == cb['optimizer']['param_groups'][0]['lr']


def test_dist_train_two_processes_gloo(tmp_path):
    env_port = str(29500 + os.getpid() % 1000)
    env = dict(os.environ, PYTHON=sys.executable, PORT=env_port,
               PYTHONPATH=PYPATH,
               OMP_NUM_THREADS='1')
    cfg = derived_config(tmp_path, "dict(type='DumpRankWeightsHook')")
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', str(tmp_path),
         '--cfg-options', 'train_cfg.max_epochs=1'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-5000:]
    r0 = torch.load(tmp_path / 'rank0.pth', weights_only=True)
    r1 = torch.load(tmp_path / 'rank1.pth', weights_only=True)
    assert len(r0['params']) > 50
    assert all(torch.equal(r0['params'][k], r1['params'][k]) for k in r0['params'])
    # BN statistics are per rank (each saw its own half of the data): they do differ
    assert not torch.equal(r0['buffers']['backbone.bn1.running_mean'],
                           r1['buffers']['backbone.bn1.running_mean'])
    # each rank saw half of the 32 training images: 2 iterations of 8 per epoch
    assert 'Epoch(train) [1][2/2]' in proc.stdout + proc.stderr
    proc = run([sys.executable, 'tools/test.py', CFG, str(tmp_path / 'epoch_1.pth'),
                '--work-dir', str(tmp_path / 'test')])
    assert osp.exists(tmp_path / 'test' / 'metrics.json')


def test_dist_test_two_processes(trained, tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(30500 + os.getpid() % 1000),
               PYTHONPATH=PYPATH,
               OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', 'tools/dist_test.sh', CFG, str(trained / 'epoch_3.pth'), '2',
                           '--work-dir', str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-5000:]
    single = json.load(open(tmp_path / 'metrics.json'))
    # the 16 test images are split across the 2 ranks and gathered back: same matrix total
    assert int(torch.tensor(single['confusion_matrix']).sum()) == 16


def test_slurm_script_builds_the_srun_command(tmp_path):
    """slurm_train.sh on a machine without slurm: a stand-in `srun` records its arguments.
    (mmengine's slurm initialisation itself needs CUDA, so it is not run here.)"""
    fake = tmp_path / 'bin'
    fake.mkdir()
    (fake / 'srun').write_text('#!/usr/bin/env bash\necho "$@" > "$SRUN_LOG"\n')
    (fake / 'srun').chmod(0o755)
    log = tmp_path / 'srun.log'
    env = dict(os.environ, PATH=f'{fake}{os.pathsep}{os.environ["PATH"]}', SRUN_LOG=str(log),
               GPUS='4', GPUS_PER_NODE='2')
    proc = subprocess.run(['bash', 'tools/slurm_train.sh', 'mypart', 'job1', CFG,
                           str(tmp_path / 'wd'), '--amp'],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    args = log.read_text().split()
    assert args[:2] == ['-p', 'mypart']
    for expected in ('--job-name=job1', '--gres=gpu:2', '--ntasks=4', '--ntasks-per-node=2',
                     'tools/train.py', CFG, f'--work-dir={tmp_path / "wd"}',
                     '--launcher=slurm', '--amp'):
        assert expected in args, expected


def test_demo_script_end_to_end_tiny(tmp_path):
    """tools/demo.sh (what `make demo` runs) on a tiny SynthFER: writer → RAFDB reader →
    train → test → curves."""
    env = dict(os.environ, PYTHON=sys.executable, DATA=str(tmp_path / 'data'),
               WORK=str(tmp_path / 'work'), NUM_TRAIN='48', NUM_TEST='24',
               PYTHONPATH=PYPATH,
               DEMO_CFG_OPTIONS='train_cfg.max_epochs=1 train_dataloader.batch_size=16 '
               'train_dataloader.num_workers=0 train_dataloader.persistent_workers=False '
               'val_dataloader.num_workers=0 val_dataloader.persistent_workers=False '
               'model.backbone.base_channels=8 model.backbone.stem_channels=8 '
               'model.head.in_channels=64')
    proc = subprocess.run(['bash', 'tools/demo.sh'], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    lines = (tmp_path / 'data' / 'EmoLabel' / 'list_patition_label.txt').read_text().split('\n')
    assert sum(1 for ln in lines if ln.startswith('train_')) == 48
    assert sum(1 for ln in lines if ln.startswith('test_')) == 24
    work = tmp_path / 'work'
    metrics = json.load(open(work / 'metrics.json'))
    assert int(torch.tensor(metrics['confusion_matrix']).sum()) == 24
    for png in ('confusion_matrix.png', 'curves.png'):
        assert osp.getsize(work / png) > 1000
    assert '[demo] test accuracy' in proc.stdout


def test_amp_flag_keeps_sam():
    """--amp picks the SAM variant of mmfer's AMP wrapper for SAM configs (both passes kept) and
    FERAmpOptimWrapper otherwise; a bare --amp is bf16 on a machine without CUDA (every CPU runs
    bf16; fp16 only one with native fp16: docs/performance.md)."""
    import torch
    from mmengine.config import Config
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    try:
        from train import merge_args, parse_args
    finally:
        sys.path.remove(osp.join(ROOT, 'tools'))
    bare = 'fp16' if torch.cuda.is_available() else 'bf16'
    qcs = osp.join(ROOT, 'configs', 'qcs', 'qcs_synthfer.py')
    cfg = merge_args(Config.fromfile(qcs), parse_args([qcs, '--amp']))
    assert cfg.optim_wrapper.type == 'SAMFERAmpOptimWrapper'
    assert cfg.optim_wrapper.rho == 0.05 and cfg.optim_wrapper.dtype == bare
    cfg = merge_args(Config.fromfile(CFG), parse_args([CFG, '--amp', 'bf16']))
    assert cfg.optim_wrapper.type == 'FERAmpOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bf16' and cfg.amp == 'bf16'
    assert cfg.optim_wrapper.optimizer.type == 'SGD'  # the config's optimizer is kept
