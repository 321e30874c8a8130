#!/usr/bin/env bash
# The Python packages mmfer needs on the lent GPU machine that its image lacks, as wheels in
# .whl/ (ignored by git), fetched here (no device time) for the device's Python 3.12:
#
#   bash tools/analysis/device_wheels.sh          # ~3 MB, pure-Python wheels
#
# The device image already has torch, torchvision, numpy, opencv(-headless), matplotlib, rich,
# pyyaml, einops, pillow, click, markdown, pytest and pytest-xdist (its package list:
# .library/device/KINDS.md). The mm* versions are the pins of requirements/constraints.txt;
# their dependencies that the image lacks are pinned to the versions of this checkout's venv.
# On the device (carry .whl; docs/benchmarks.md, "GPU"):
#
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
#     --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD && \
#     PYTHON=python3 bash tools/analysis/gpu_benchmark.sh --out-dir $OUT/gpu_benchmark
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
PACKAGES=(mmengine==0.10.7 mmcv-lite==2.2.0 mmpretrain==1.2.0
          addict==2.4.0 termcolor==3.3.0 yapf==0.43.0 platformdirs==4.14.9
          importlib-metadata==10.2.0 mat4py==0.6.0 modelindex==0.0.2 model-index==0.1.11
          ordered-set==4.1.0)
mkdir -p .whl
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl "${PACKAGES[@]}"
ls -la .whl
echo "[device_wheels] ${#PACKAGES[@]} packages in .whl/ ($(du -sh .whl | cut -f1))"
