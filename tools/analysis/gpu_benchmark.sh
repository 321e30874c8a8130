#!/usr/bin/env bash
# The GPU run of issue 15 in one script (< 8 min on one GPU): every method's training step and
# inference in fp32 / channels_last / bf16 / fp16 (tools/analysis/benchmark.py --suite, img/s and
# the ratios to the official-style fp32 NCHW eager setting), torch.compile on a few methods (its
# cold start is tens of seconds per model), and the data side: the train pipeline's images/s on one
# core (tools/analysis/benchmark_pipeline.py on SynthFER written in the RAF-DB layout) against
# the training step's images/s — how many loader cores keep the GPU fed, i.e. is it data-bound?
#
#   bash tools/analysis/gpu_benchmark.sh [--dry-run] [--out-dir DIR]
#
# Writes DIR/gpu_benchmark.md (the GPU-only tests' outcome, the tables and the verdict),
# DIR/gpu_tests.xml, DIR/suite*.json, DIR/suite.png, DIR/pipeline_*.json and DIR/log.txt
# (default DIR work_dirs/gpu_benchmark).
# --dry-run: the same steps on the CPU with the tiny test configs (seconds; what the test runs).
# Environment: PYTHON (default python), METHODS (suite methods, default all),
# COMPILE_METHODS (default "baseline dan poster_base"), BATCH (inference batch, default 64),
# TRAIN_BATCH (default 32), ROUNDS (3), ITERS (5), STEP_TIMEOUT (seconds per step, 200).
set -uo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python}
DRY=0
DIR=work_dirs/gpu_benchmark
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1; shift ;;
    --out-dir) DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "gpu_benchmark.sh: unknown argument $1 (use --dry-run, --out-dir DIR)" >&2; exit 2 ;;
  esac
done
mkdir -p "$DIR"
LOG="$DIR/log.txt"
: > "$LOG"
start=$(date +%s)
STEP_TIMEOUT=${STEP_TIMEOUT:-200}

if [ "$DRY" = 1 ]; then
  DEVICE=cpu
  export PYTHONPATH="tests/data${PYTHONPATH:+:$PYTHONPATH}"  # the tiny test models
  METHODS=${METHODS:-"tests/data/configs/tiny_synthfer.py:32"}
  COMPILE_METHODS=${COMPILE_METHODS:-""}
  SETTINGS="official channels_last bf16"
  SIZE_ARGS=(--batch-size 2 --train-batch-size 2 --rounds 1 --iters 1 --warmup 0
             --num-threads 1 --no-memory)
  PIPE_CONFIGS=("tests/data/configs/tiny_synthfer.py|")
  PIPE_ARGS=(--num-images 4 --rounds 1 --warmup 1)
  STEP_TIMEOUT=${STEP_TIMEOUT_DRY:-300}
else
  DEVICE=cuda
  if ! "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_benchmark.sh: no CUDA device (torch.cuda.is_available() is False); use --dry-run" >&2
    exit 1
  fi
  METHODS=${METHODS:-"baseline dan qcs dcs poster_base pcda lan dacfer"}
  COMPILE_METHODS=${COMPILE_METHODS:-"baseline dan poster_base"}
  SETTINGS="official channels_last bf16 bf16_channels_last fp16_channels_last"
  SIZE_ARGS=(--batch-size "${BATCH:-64}" --train-batch-size "${TRAIN_BATCH:-32}"
             --rounds "${ROUNDS:-3}" --iters "${ITERS:-5}" --warmup 3)
  DATA="$DIR/synthfer_rafdb"
  # config | the cfg-option that points its training set at the SynthFER copy
  PIPE_CONFIGS=(
    "configs/baseline/r18_rafdb.py|train_dataloader.dataset.data_root=$DATA"
    "configs/dan/dan_r18_rafdb.py|train_dataloader.dataset.data_root=$DATA"
    "configs/qcs/poster_base_rafdb.py|train_dataloader.dataset.data_root=$DATA"
    "configs/pcda/pcda_ir50_rafdb.py|train_dataloader.dataset.data_root=$DATA"
    "configs/dacfer/dacfer_se50_rafdb.py|train_dataloader.dataset.data_root=$DATA"
    "configs/qcs/qcs_rafdb.py|train_dataloader.dataset.dataset.data_root=$DATA")
  PIPE_ARGS=(--num-images 200 --rounds 3 --warmup 5)
fi

step() {  # step NAME CMD...: run with a timeout, log, never stop the script
  local name=$1; shift
  local t0; t0=$(date +%s)
  echo "[gpu_benchmark] $name: $*" | tee -a "$LOG"
  timeout "$STEP_TIMEOUT" "$@" >> "$LOG" 2>&1
  local rc=$?
  echo "[gpu_benchmark] $name: rc=$rc in $(( $(date +%s) - t0 )) s" | tee -a "$LOG"
  return 0
}

"$PYTHON" - >> "$LOG" 2>&1 <<'PY' || true
import torch
print('torch', torch.__version__, 'cuda', torch.version.cuda,
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')
PY
# the tests that only run on a GPU (fp16 + GradScaler on CUDA, plain and SAM): seconds
step "gpu tests" "$PYTHON" -m pytest -q -p no:cacheprovider -rs \
  tests/test_engine/test_performance_amp.py -k gpu --junitxml "$DIR/gpu_tests.xml"
# shellcheck disable=SC2086
step suite "$PYTHON" tools/analysis/benchmark.py --suite --device "$DEVICE" --methods $METHODS \
  --settings $SETTINGS "${SIZE_ARGS[@]}" --out "$DIR/suite.json" "$DIR/suite.png"
if [ -n "$COMPILE_METHODS" ]; then
  # shellcheck disable=SC2086
  step compile "$PYTHON" tools/analysis/benchmark.py --suite --device "$DEVICE" \
    --methods $COMPILE_METHODS --settings official compile best "${SIZE_ARGS[@]}" \
    --out "$DIR/suite_compile.json"
fi

if [ -f tools/analysis/benchmark_pipeline.py ]; then
  if [ "$DRY" = 0 ] && [ ! -f "$DATA/EmoLabel/list_patition_label.txt" ]; then
    step synthfer "$PYTHON" tools/dataset_converters/synthfer_writer.py --format rafdb \
      --out "$DATA" --num-train 400 --num-test 50 --size 100 --seed 0
  fi
  i=0
  for entry in "${PIPE_CONFIGS[@]}"; do
    cfg=${entry%%|*}; opt=${entry#*|}
    extra=()
    [ -n "$opt" ] && extra=(--cfg-options "$opt")
    step "pipeline $cfg" "$PYTHON" tools/analysis/benchmark_pipeline.py "$cfg" --split train \
      "${PIPE_ARGS[@]}" "${extra[@]}" --out "$DIR/pipeline_$i.json"
    i=$((i + 1))
  done
else
  echo "[gpu_benchmark] tools/analysis/benchmark_pipeline.py not found: no data-side figures" \
    | tee -a "$LOG"
fi

"$PYTHON" - "$DIR" "$(( $(date +%s) - start ))" "$DRY" <<'PY' 2>&1 | tee -a "$LOG"
"""gpu_benchmark.md: the suite tables and the data-bound check."""
import glob, json, os, os.path as osp, sys
out_dir, seconds, dry = sys.argv[1], int(sys.argv[2]), sys.argv[3] == '1'
lines = ['# GPU benchmark' + (' (dry run on the CPU, tiny configs)' if dry else ''), '',
         f'Written by `bash tools/analysis/gpu_benchmark.sh{" --dry-run" if dry else ""}` in '
         f'{seconds} s.', '']
xml = osp.join(out_dir, 'gpu_tests.xml')
if osp.exists(xml):
    import xml.etree.ElementTree as ET
    root = ET.parse(xml).getroot()
    ts = root if root.tag == 'testsuite' else root.find('testsuite')
    n, bad, skip = (int(ts.get(k, 0)) for k in ('tests', 'failures', 'skipped'))
    bad += int(ts.get('errors', 0))
    lines += [f'GPU-only tests (tests/test_engine/test_performance_amp.py -k gpu): {n} run, '
              f'{n - bad - skip} passed, {bad} failed, {skip} skipped', '']
else:
    lines += ['GPU-only tests: no result (see log.txt)', '']
suites = {}
for name in ('suite', 'suite_compile'):
    path = osp.join(out_dir, name + '.json')
    if not osp.exists(path):
        if name == 'suite' or not dry:  # the dry run has no compile step
            lines += [f'{name}: not produced (see log.txt)', '']
        continue
    res = json.load(open(path))
    suites[name] = res
    env = res['environment']
    lines += [f'## {name}: {env.get("gpu", env["cpu"])}, torch {env["torch"]}', '']
    # the markdown table benchmark.py prints is rebuilt from the rows
    head = ['method', 'setting', 'input', 'infer img/s', 'x first', 'max abs dlogp',
            'train img/s', 'x first (train)', 'infer peak MiB', 'train peak MiB']
    lines += ['| ' + ' | '.join(head) + ' |', '|---|---|---|' + '---:|' * (len(head) - 3)]
    for r in res['rows']:
        if 'error' in r:
            lines.append(f'| {r["method"]} | error: {r["error"][:200]} |' + ' |' * 8)
            continue
        train = r.get('train_samples_s')
        cells = [r['method'], r['setting'], f'{r["shape"][0]}x{r["shape"][1]}',
                 f'{r["infer_img_s"]:.1f}', f'{r["infer_ratio"]:.2f}',
                 f'{r["max_logp_diff"]:.1e}',
                 '-' if train is None else f'{train * r["num_views"]:.1f}',
                 '-' if train is None else f'{r["train_ratio"]:.2f}',
                 '-' if r.get('infer_peak_mib') is None else f'{r["infer_peak_mib"]:.0f}',
                 '-' if r.get('train_peak_mib') is None else f'{r["train_peak_mib"]:.0f}']
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines.append('')
pipes = []
for path in sorted(glob.glob(osp.join(out_dir, 'pipeline_*.json'))):
    pipes += json.load(open(path))['rows']
if pipes:
    # fastest training step per config over the measured settings (images/s)
    step = {}
    for res in suites.values():
        for r in res['rows']:
            if r.get('train_samples_s'):
                key = osp.normpath(r['config'])
                step[key] = max(step.get(key, 0.0), r['train_samples_s'] * r['num_views'])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    lines += ['## Is the GPU data-bound?', '',
              f'Train pipeline (`dataset[i]`: decode + augment + pack) on one core, against the '
              f'fastest training step measured above. Loader cores needed = step img/s / '
              f'(img/s per core); this machine has {cores} cores (one drives the GPU).', '',
              '| config | pipeline img/s per core | step img/s | loader cores needed | '
              'data-bound? |', '|---|---:|---:|---:|---|']
    for p in pipes:
        key = osp.normpath(p['config'])
        s = step.get(key)
        need = None if not s else s / p['img_per_s_per_core']
        verdict = '-' if need is None else ('yes' if need > cores - 1 else 'no')
        lines.append(f'| {p["config"]} | {p["img_per_s_per_core"]:.0f} | '
                     f'{"-" if s is None else f"{s:.0f}"} | '
                     f'{"-" if need is None else f"{need:.1f}"} | {verdict} |')
    lines.append('')
else:
    lines += ['No data-pipeline figures (see log.txt).', '']
with open(osp.join(out_dir, 'gpu_benchmark.md'), 'w') as f:
    f.write('\n'.join(lines))
print('\n'.join(lines))
print(f'[gpu_benchmark] wrote {osp.join(out_dir, "gpu_benchmark.md")}')
PY
