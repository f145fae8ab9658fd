#!/usr/bin/env bash
# Gather, on a machine with network access, what benchmarks/gpu/run_gpu_check.sh
# installs on a GPU machine without it (README.md beside this file):
#   .whl/          pure-Python wheels for Python 3.12 of mmengine, mmsegmentation and
#                  what they need beyond a PyTorch image, and mmcv 2.1.0's source
#   .testvectors/  a copy of the selection test vectors (from $1, default
#                  $MMSEG_CSL_TESTVECTORS), for the CUDA tests
# Both folders are ignored by git (.git/info/exclude) and never committed.
#
#   bash benchmarks/gpu/prepare.sh [TESTVECTORS_DIR]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
PY=${PYTHON:-python3}
VECTORS=${1:-${MMSEG_CSL_TESTVECTORS:-}}
for folder in /.whl/ /.testvectors/; do
  grep -qxF "$folder" .git/info/exclude 2>/dev/null || echo "$folder" >> .git/info/exclude
done
mkdir -p .whl
# Pure-Python wheels (wcwidth's is abi3) of the versions tested together; the
# PyTorch image provides numpy, scipy, matplotlib, opencv, pillow, pyyaml, rich,
# regex, packaging. setuptools < 81 still has pkg_resources, which mmcv's
# setup.py imports; ninja makes the build parallel.
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform any -d .whl \
  mmengine==0.10.7 mmsegmentation==1.2.2 addict==2.4.0 yapf==0.43.0 termcolor==3.3.0 \
  prettytable==3.18.0 ftfy==6.3.1 wcwidth==0.9.4 platformdirs==4.14.8 \
  setuptools==80.10.2 ninja==1.13.2
# mmcv 2.1.0 has no wheel for torch 2.11 / Python 3.12: its source, built there.
# pip prepares the metadata of a source archive, which needs setuptools and wheel.
[[ -f .whl/mmcv-2.1.0.tar.gz ]] || "$PY" -m pip download -q --no-deps \
  --no-binary=:all: --no-build-isolation mmcv==2.1.0 -d .whl
if [[ -n $VECTORS && -d $VECTORS ]]; then
  rm -rf .testvectors && cp -r "$VECTORS" .testvectors
else
  echo "no test vectors (${VECTORS:-none given}): their CUDA tests will skip"
fi
du -sh .whl .testvectors 2>/dev/null || true
