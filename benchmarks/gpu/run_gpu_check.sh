#!/usr/bin/env bash
# Install mmseg_csl's dependencies on a bare GPU machine from files brought
# along, then run benchmarks/gpu/check.py. README.md beside this file says what
# to bring (benchmarks/gpu/prepare.sh downloads it) and how to run it.
#
#   bash benchmarks/gpu/run_gpu_check.sh [extra arguments of benchmarks/gpu/check.py]
#
# Environment (all optional):
#   OUT                 where the table, the numbers and the logs go (the device
#                       tool sets it; default work_dirs/gpu_check)
#   MMSEG_CSL_WHEELS    the folder of wheels and the mmcv source archive (.whl)
#   MMCV_BUILT          a tarball of an mmcv already built on such a machine (by an
#                       earlier run with PACK_MMCV=1): no build then
#   PACK_MMCV=1         leave the built mmcv as $OUT/mmcv-built.tar.gz
#   MMSEG_CSL_WITH_OPS  0: skip mmseg_csl's compiled kernels (CPU and CUDA)
#   MMSEG_CSL_WITH_CUDA 0: build the CPU kernels only (default: also the CUDA
#                       kernels, for this GPU's architecture, where nvcc is found)
#   TIME_LIMIT_S        the whole run aims to end within this (default 520 s);
#                       check.py gets what the installation leaves of it
#   PYTHON              the interpreter that has torch (default python3)
set -euo pipefail
export PYTHONUNBUFFERED=1
START=$(date +%s)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WHEELS=${MMSEG_CSL_WHEELS:-$REPO/.whl}
OUT=${OUT:-$REPO/work_dirs/gpu_check}
PY=${PYTHON:-python3}
SITE=${MMSEG_CSL_SITE:-/tmp/mmseg_csl_site}
WORK=${MMSEG_CSL_GPU_WORK:-/tmp/mmseg_csl_gpu_check}
TIME_LIMIT_S=${TIME_LIMIT_S:-520}
JOBS=${MAX_JOBS:-$(nproc)}
mkdir -p "$OUT" "$SITE" "$WORK"
exec > >(tee -a "$OUT/run_gpu_check.log") 2>&1

elapsed() { echo $(( $(date +%s) - START )); }
step() { echo; echo "== [$(elapsed) s] $*"; }
pack_logs() {
  # $OUT takes few files: the table, the numbers and one archive of the logs.
  [[ -f $WORK/gpu_check.md ]] && cp "$WORK/gpu_check.md" "$OUT/"
  [[ -f $WORK/gpu_check.json ]] && cp "$WORK/gpu_check.json" "$OUT/"
  cp "$WORK"/train_*_profile.txt "$OUT/" 2>/dev/null || true
  tar -czf "$OUT/logs.tar.gz" -C "$WORK" --exclude=./data --exclude=./work_dirs \
    --exclude=./mmcv-2.1.0 --exclude=./ops_build . 2>/dev/null || true
}
trap pack_logs EXIT

step "machine"
echo "repo $REPO, wheels $WHEELS, out $OUT, $(nproc) cores"
nvidia-smi -L || echo "nvidia-smi: none"
"$PY" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available())'
[[ -d $WHEELS ]] || { echo "no $WHEELS: run benchmarks/gpu/prepare.sh first"; exit 2; }
ls -la "$WHEELS"

step "wheels -> $SITE"
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$SITE" "$WHEELS"/*.whl
export PYTHONPATH="$REPO:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$SITE/bin:$PATH"
"$PY" -c 'import setuptools, pkg_resources; print("setuptools", setuptools.__version__)'

if [[ -z ${MMSEG_CSL_WITH_CUDA:-} ]]; then
  if command -v nvcc >/dev/null 2>&1 || [[ -x ${CUDA_HOME:-/usr/local/cuda}/bin/nvcc ]]; then
    MMSEG_CSL_WITH_CUDA=1
  else
    MMSEG_CSL_WITH_CUDA=0
  fi
fi
export MMSEG_CSL_WITH_CUDA
if [[ $MMSEG_CSL_WITH_CUDA == 1 && -z ${TORCH_CUDA_ARCH_LIST:-} ]]; then
  TORCH_CUDA_ARCH_LIST=$("$PY" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')
  export TORCH_CUDA_ARCH_LIST
fi
step "mmseg_csl kernels (MMSEG_CSL_WITH_OPS=${MMSEG_CSL_WITH_OPS:-1}, CUDA: $MMSEG_CSL_WITH_CUDA, arch ${TORCH_CUDA_ARCH_LIST:-none}), beside the mmcv build"
OPS_PID=
if [[ ${MMSEG_CSL_WITH_OPS:-1} != 0 ]]; then
  (cd "$REPO" && OPS_START=$(date +%s) && MAX_JOBS=$JOBS "$PY" setup.py -q build_ext --inplace \
     --build-temp "$WORK/ops_build" > "$WORK/mmseg_csl_ops.log" 2>&1 \
     && echo "mmseg_csl kernels build time: $(( $(date +%s) - OPS_START )) s" >> "$WORK/mmseg_csl_ops.log") &
  OPS_PID=$!
fi

MMCV_BUILT=${MMCV_BUILT:-$WHEELS/mmcv-built.tar.gz}
if [[ -f $MMCV_BUILT ]]; then
  step "mmcv: built before, from $MMCV_BUILT (no build)"
  tar -xzf "$MMCV_BUILT" -C "$SITE"
  export MMCV_BUILD="built by an earlier run, $(basename "$MMCV_BUILT")"
else
  step "mmcv 2.1.0 from source, CPU ops only, $JOBS jobs"
  if ninja --version >/dev/null 2>&1; then
    echo "ninja $(ninja --version): parallel build"
  else
    echo "WARNING: no ninja on PATH: torch builds the ops one file at a time (slow)"
  fi
  INCLUDE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  [[ -f $INCLUDE/Python.h ]] || echo "WARNING: no Python.h in $INCLUDE: the build will fail"
  rm -rf "$WORK/mmcv-2.1.0"
  tar -xzf "$WHEELS"/mmcv-2.1.0.tar.gz -C "$WORK"
  BUILD_START=$(date +%s)
  (cd "$WORK/mmcv-2.1.0" && MMCV_WITH_OPS=1 CUDA_VISIBLE_DEVICES= FORCE_CUDA=0 \
     MAX_JOBS=$JOBS "$PY" -m pip install --no-build-isolation --no-deps --no-index \
     --no-cache-dir --target "$SITE" . > "$WORK/mmcv_build.log" 2>&1) \
    || { tail -n 40 "$WORK/mmcv_build.log"; echo "mmcv build FAILED"; exit 3; }
  BUILD_S=$(( $(date +%s) - BUILD_START ))
  echo "mmcv build time: $BUILD_S s with MAX_JOBS=$JOBS" | tee "$WORK/mmcv_build_time.txt"
  export MMCV_BUILD="built here in $BUILD_S s, MAX_JOBS=$JOBS"
  if [[ ${PACK_MMCV:-0} == 1 ]]; then
    strip --strip-debug "$SITE"/mmcv/_ext*.so || true  # 80 MB of debug symbols
    tar -czf "$OUT/mmcv-built.tar.gz" -C "$SITE" mmcv $(cd "$SITE" && ls -d mmcv-*.dist-info)
    ls -la "$OUT/mmcv-built.tar.gz"
  fi
fi

if [[ -n $OPS_PID ]]; then
  if wait "$OPS_PID"; then tail -n 1 "$WORK/mmseg_csl_ops.log"
  else
    grep -iE "error|fatal" "$WORK/mmseg_csl_ops.log" | head -n 20
    echo "mmseg_csl kernels NOT built (see mmseg_csl_ops.log): PyTorch ops instead"
  fi
fi

step "imports"
"$PY" -c 'import mmcv, mmcv.ops, mmengine, mmseg, mmseg_csl
from mmseg_csl.ops import kernels_built
print("mmcv", mmcv.__version__, "mmengine", mmengine.__version__, "mmseg", mmseg.__version__, "mmseg_csl kernels: CPU", kernels_built("cpu"), "CUDA", kernels_built("cuda"))'
for folder in csl_selection csl_selection_masking; do
  vectors=${MMSEG_CSL_TESTVECTORS:-$REPO/.testvectors}/$folder
  [[ -d $vectors ]] && echo "test vectors: $vectors" \
    || echo "WARNING: no test vectors in $vectors: their CUDA tests skip"
done

BUDGET=$(( TIME_LIMIT_S - $(elapsed) - 10 ))
step "benchmarks/gpu/check.py, budget $BUDGET s"
cd "$REPO"
"$PY" benchmarks/gpu/check.py --out "$WORK" --budget-s "$BUDGET" "$@"
step "done"
