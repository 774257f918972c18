#!/usr/bin/env bash
# One-command set-up of the mmwsss stack into the active Python environment.
#
#   bash tools/setup_env.sh            # CPU machine (default)
#   FORCE_CUDA=1 bash tools/setup_env.sh   # GPU machine: builds mmcv's CUDA ops too
#
# What it does, and why (see README "Installation"):
#   1. pins torch 2.14.1 + torchvision 0.29.1 and setuptools 80.9.0 (mmcv's build and
#      mmengine's `pkg::` configs import pkg_resources, removed from setuptools 81);
#   2. builds mmcv 2.1.0 with its compiled ops ONCE and caches the wheel in
#      $MMWSSS_CACHE (default ~/.cache/mmwsss/wheels). mmcv 2.x has no wheels on PyPI and
#      its setup.py asks for -std=c++17 while torch 2.14's headers need C++20, so the
#      unpacked source is patched to -std=c++20 before building. Later runs reuse the wheel;
#   3. installs mmengine, mmsegmentation, mmpretrain, pydensecrf2 and mmwsss itself
#      (editable) with its test extras.
set -euo pipefail

PY=${PYTHON:-python}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${MMWSSS_CACHE:-$HOME/.cache/mmwsss/wheels}
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
FORCE_CUDA=${FORCE_CUDA:-0}
if [ "$FORCE_CUDA" = "1" ]; then FLAVOUR=cuda; else FLAVOUR=cpu; fi
PIP="$PY -m pip install --disable-pip-version-check"

log() { printf '[setup_env] %s\n' "$*"; }

log "python: $($PY -c 'import sys; print(sys.executable, sys.version.split()[0])')"
log "step 1/3: torch ${TORCH_VERSION}, torchvision ${TORCHVISION_VERSION}, build tools"
$PIP "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}" \
    "setuptools==80.9.0" wheel ninja "numpy>=2,<3"

mkdir -p "$CACHE"
WHEEL=$(ls "$CACHE"/mmcv-${MMCV_VERSION}+torch${TORCH_VERSION}${FLAVOUR}-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$WHEEL" ]; then
    log "step 2/3: building mmcv ${MMCV_VERSION} (${FLAVOUR} ops); about 7 min on 2 cores, done once"
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
    # Download the sdist only (its metadata step needs torch, hence --no-build-isolation).
    $PY -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
        --no-build-isolation "mmcv==${MMCV_VERSION}" -d "$WORK"
    tar -xzf "$WORK/mmcv-${MMCV_VERSION}.tar.gz" -C "$WORK"
    SRC="$WORK/mmcv-${MMCV_VERSION}"
    sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
    grep -q 'c++20' "$SRC/setup.py" || { log "could not patch the C++ standard in mmcv's setup.py"; exit 1; }
    ( cd "$SRC" && MMCV_WITH_OPS=1 FORCE_CUDA=$FORCE_CUDA MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        $PY -m pip wheel --no-build-isolation --no-deps -w "$WORK/dist" . )
    BUILT=$(ls "$WORK"/dist/mmcv-*.whl)
    NAME=$(basename "$BUILT" | sed "s/^mmcv-${MMCV_VERSION}-/mmcv-${MMCV_VERSION}+torch${TORCH_VERSION}${FLAVOUR}-/")
    # Atomic publish into the cache: a killed build never leaves a half-written wheel.
    cp "$BUILT" "$CACHE/.$NAME.tmp" && mv "$CACHE/.$NAME.tmp" "$CACHE/$NAME"
    WHEEL="$CACHE/$NAME"
else
    log "step 2/3: reusing cached mmcv wheel $WHEEL"
fi
# The cache name carries a local tag that pip would reject as a wheel filename; install a copy
# under the canonical name.
TMPW=$(mktemp -d)
cp "$WHEEL" "$TMPW/mmcv-${MMCV_VERSION}-$(basename "$WHEEL" | sed "s/^mmcv-${MMCV_VERSION}+torch${TORCH_VERSION}${FLAVOUR}-//")"
$PIP --no-deps "$TMPW"/mmcv-*.whl
rm -rf "$TMPW"

log "step 3/3: OpenMMLab packages, pydensecrf2, mmwsss"
$PIP "mmengine==0.10.7" "mmsegmentation==1.2.2" "mmpretrain==1.2.0" "pydensecrf2==1.1" "pycocotools>=2.0.8" \
    "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}" "setuptools==80.9.0"
$PIP -e "$ROOT[tests]" "torch==${TORCH_VERSION}" "setuptools==80.9.0"
$PY -c "import mmcv.ops, mmseg.models, mmpretrain.models, pydensecrf.densecrf, mmwsss; \
print('[setup_env] ok: mmcv', mmcv.__version__, 'mmseg', mmseg.__version__, 'mmwsss', mmwsss.__version__)"
