#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install everything into it.
#
#   tools/setup_env.sh            # venv in ./.venv
#   VENV=/path/venv tools/setup_env.sh
#
# mmcv 2.1.0 with compiled ops has no wheel on PyPI: it is taken from
# MMSEG_CSL_WHEEL_DIR when that folder holds a matching wheel, and built from source
# otherwise (about 23 minutes on 2 cores). A second run with unchanged requirements
# installs nothing: a fingerprint of setup.py, requirements/ and the C++ sources of
# mmseg_csl/ops is stored in the venv.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VENV:-$root/.venv}
wheel_dir=${MMSEG_CSL_WHEEL_DIR:-}
stamp=$venv/.mmseg_csl-env
fingerprint=$(cat "$root/setup.py" "$root"/requirements/*.txt "$root"/mmseg_csl/ops/csrc/* |
              sha256sum | cut -c1-16)

if [[ -f $stamp && $(cat "$stamp") == "$fingerprint" ]]; then
    exit 0
fi

[[ -x $venv/bin/python ]] || "${PYTHON:-python3}" -m venv "$venv"
pip_install=("$venv/bin/python" -m pip install --disable-pip-version-check
             -c "$root/requirements/cpu-env.txt")

# torch first: mmcv's source build imports it (no build isolation).
"${pip_install[@]}" "setuptools<81" wheel ninja numpy torch

mmcv_source=()
if [[ -n $wheel_dir ]]; then
    [[ -d $wheel_dir ]] || { echo "MMSEG_CSL_WHEEL_DIR=$wheel_dir is not a folder" >&2; exit 2; }
    mmcv_source=(--find-links "$wheel_dir" --prefer-binary)
fi
MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    "${pip_install[@]}" --no-build-isolation "${mmcv_source[@]}" mmcv

# The package's compiled CPU kernels build against the installed torch as well.
# The mmdet extra lets the model-zoo census train MaskFormer and Mask2Former;
# mmpretrain is left out: it needs a CPU torchvision, which PyPI does not have.
"${pip_install[@]}" --no-build-isolation --use-pep517 -e "$root[tests,mmdet]"
echo "$fingerprint" > "$stamp"
echo "environment ready: $venv"
