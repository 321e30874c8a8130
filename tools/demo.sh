#!/usr/bin/env bash
# The quick start (`make demo`): SynthFER written in the RAF-DB layout, the ResNet-18 baseline
# trained with tools/train.py, evaluated with tools/test.py; metrics, confusion matrix PNG and
# training curves PNG end up in work_dirs/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
DATA=${DATA:-data/synthfer_rafdb}
WORK=${WORK:-work_dirs/demo}
CONFIG=configs/baseline/r18_synthfer.py
NUM_TRAIN=${NUM_TRAIN:-8000}
NUM_TEST=${NUM_TEST:-2000}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# extra `--cfg-options` for training and testing (the tests use them for a tiny run)
read -r -a EXTRA <<< "${DEMO_CFG_OPTIONS:-}"

start=$(date +%s)
if [ ! -f "$DATA/EmoLabel/list_patition_label.txt" ]; then
  echo "[demo] writing SynthFER ($NUM_TRAIN train / $NUM_TEST test) to $DATA"
  "$PYTHON" tools/dataset_converters/synthfer_writer.py --format rafdb --out "$DATA" \
    --num-train "$NUM_TRAIN" --num-test "$NUM_TEST" --size 100 --seed 0
fi
echo "[demo] training $CONFIG"
"$PYTHON" tools/train.py "$CONFIG" --work-dir "$WORK" --cfg-options "train_dataloader.dataset.data_root=$DATA" "val_dataloader.dataset.data_root=$DATA" "test_dataloader.dataset.data_root=$DATA" "${EXTRA[@]}"
CKPT=$(cat "$WORK/last_checkpoint")
echo "[demo] testing the last checkpoint $CKPT"
"$PYTHON" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK/test" --out "$WORK/test/predictions.pkl" --cfg-options "test_dataloader.dataset.data_root=$DATA" "${EXTRA[@]}"
LOGDIR=$(ls -d "$WORK"/2*/ | sort | tail -n 1)
"$PYTHON" tools/analysis/analyze_logs.py plot_curve "$LOGDIR/vis_data/scalars.json" --out "$WORK/curves.png"
cp "$WORK/test/confusion_matrix.png" "$WORK/confusion_matrix.png"
cp "$WORK/test/metrics.json" "$WORK/metrics.json"
end=$(date +%s)
"$PYTHON" - "$WORK/metrics.json" "$((end - start))" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))['metrics']
print(f"[demo] done in {int(sys.argv[2]) // 60} min {int(sys.argv[2]) % 60} s (data + train + test)")
print(f"[demo] test accuracy {m['fer/accuracy']:.2f} %, mean class accuracy "
      f"{m['fer/mean_class_accuracy']:.2f} %, macro F1 {m['fer/macro_f1']:.2f} %")
PY
echo "[demo] outputs: $WORK/metrics.json $WORK/confusion_matrix.png $WORK/curves.png"
