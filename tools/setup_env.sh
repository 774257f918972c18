#!/usr/bin/env bash
# One-command set-up of the mmwsss stack into the active Python environment.
#
#   bash tools/setup_env.sh            # CPU machine (default)
#   FORCE_CUDA=1 bash tools/setup_env.sh   # GPU machine: builds mmcv's CUDA ops too
#   PYTHON=/path/to/venv/bin/python bash tools/setup_env.sh   # another interpreter
#
# What it does, and why (see README "Installation"):
#   1. pins torch 2.14.1 + torchvision 0.29.1 and setuptools 80.9.0 (mmcv's build and
#      mmengine's `pkg::` configs import pkg_resources, removed from setuptools 81).
#      torch 2.14.1 exists only as the CUDA 13 build (with its nvidia-* wheels, from the
#      local indexes); it runs on the CPU. The only CPU-only torch here is 2.13.0+cpu, and
#      no torchvision runs with it, so the pin stays;
#   2. builds mmcv 2.1.0 with its compiled ops ONCE and caches the wheel in
#      $MMWSSS_CACHE (default ~/.cache/mmwsss/wheels). mmcv 2.x has no wheels on PyPI and
#      its setup.py asks for -std=c++17 while torch 2.14's headers need C++20, so the
#      unpacked source is patched to -std=c++20 before building. Later runs reuse the wheel;
#   3. installs mmengine, mmsegmentation, mmpretrain, pydensecrf2 and mmwsss itself
#      (editable) with its test extras, then imports them all and runs one compiled op.
#
# Build time on a 2-core machine (the first run; see README for the measured figures).
# mmwsss runs none of mmcv's compiled kernels in a hot path, but mmseg imports mmcv.ops at
# import time, and mmcv/ops/__init__.py imports every op module, each asserting that its
# functions exist in mmcv._ext. So the CPU build keeps ALL of mmcv's sources and only
# compiles them more cheaply:
#   - unity build (tools/misc/unity_sources.py): each of mmcv's 77 .cpp files includes
#     torch's headers, whose parsing costs ~15 s per file here (more than the file's own
#     code), ~10 min of the old build on 2 cores. The files are instead #included into
#     2 x MAX_JOBS "unity" files (at least 3), so the headers are parsed a few times.
#     The code compiled is the same; only its grouping into translation units changes.
#     Files that define the same file-local helpers (bezier_align, roi_align,
#     roi_align_rotated, rotated_feature_align: PreCalc, bilinear_interpolate_gradient,
#     add) go into different units (--apart), and psamask.cpp, which #defines min/max,
#     comes last in its unit (--last); any other clash is a compile error, never a silent
#     change, and then the script falls back to the plain per-file build by itself;
#   - -O2 -g0 appended to Python's own CFLAGS (which carry -O3 -g; the last -O/-g wins, the
#     rest, -DNDEBUG -fwrapv, stays): no debug info (it doubled the compile time of the
#     template-heavy kernels and made the wheel 32 MB instead of ~1.3 MB) and -O2 instead
#     of -O3. The CPU kernels (roi_align, nms, deform_conv, psamask, ...) gave bit-identical
#     results to the old -O3 -g per-file build on the inputs we compared.
#   The CUDA flavour is built exactly as before (per file, Python's flags, MAX_JOBS jobs):
#   its .cu sources are not touched and it cannot be tested on the CPU machines here.
#   Cache names carry a recipe tag: `mmcv-2.1.0+torch2.14.1cpu.r2-<python>-...whl` for this
#   CPU recipe (r1 was the plain `...cpu-` name of the per-file -O3 -g build), so a wheel
#   built by an older recipe is never picked up as this one; the CUDA name is unchanged
#   (`...cuda-`) because its recipe is. Names also carry the Python tag (cp311), so a
#   cache shared by two interpreters keeps one wheel per interpreter.
# pydensecrf2 1.1 has no wheel on the registry and builds from source in ~1 min on one
# core: its wheel is built in the background while step 1 installs torch (mostly one core
# busy), and is cached next to mmcv's (same atomic publish), so later runs install it
# directly. A failure of that build stops the script with its log.
set -euo pipefail

PY=${PYTHON:-python}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${MMWSSS_CACHE:-$HOME/.cache/mmwsss/wheels}
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
DENSECRF_VERSION=1.1
FORCE_CUDA=${FORCE_CUDA:-0}
JOBS=${MAX_JOBS:-$(nproc)}
if [ "$FORCE_CUDA" = "1" ]; then
    FLAVOUR=cuda
    MMCV_TAG=cuda      # per-file build, Python's compiler flags (unchanged recipe)
else
    FLAVOUR=cpu
    MMCV_TAG=cpu.r2    # r2: unity build, -O2 -g0 (see the header)
fi
PIP="$PY -m pip install --disable-pip-version-check"

log() { printf '[setup_env] %s (%d:%02d)\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }

WORK=$(mktemp -d)
DCRF_PID=
cleanup() {
    if [ -n "$DCRF_PID" ]; then kill "$DCRF_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

log "python: $($PY -c 'import sys; print(sys.executable, sys.version.split()[0])')"
PYTAG=$($PY -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
mkdir -p "$CACHE"

# Atomic publish into the cache: a killed build never leaves a half-written wheel.
publish() {  # publish SRC_WHEEL NAME -> prints the cached path
    cp "$1" "$CACHE/.$2.tmp" && mv "$CACHE/.$2.tmp" "$CACHE/$2" && echo "$CACHE/$2"
}

DCRF_WHEEL=$(ls "$CACHE"/pydensecrf2-${DENSECRF_VERSION}-${PYTAG}-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$DCRF_WHEEL" ]; then
    log "pydensecrf2 ${DENSECRF_VERSION}: building its wheel in the background (about 1 min of one core)"
    $PY -m pip wheel --disable-pip-version-check --no-deps "pydensecrf2==${DENSECRF_VERSION}" \
        -w "$WORK/dcrf" >"$WORK/pydensecrf2.log" 2>&1 &
    DCRF_PID=$!
else
    log "pydensecrf2 ${DENSECRF_VERSION}: reusing cached wheel $DCRF_WHEEL"
fi

log "step 1/3: torch ${TORCH_VERSION}, torchvision ${TORCHVISION_VERSION}, build tools"
$PIP "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}" \
    "setuptools==80.9.0" wheel ninja "numpy>=2,<3"

# build_mmcv unity|plain: unpack the sdist afresh, patch, build a wheel into $WORK/dist.
# Every step checks its status itself (errexit is off inside a function called by `if`).
build_mmcv() {
    local src="$WORK/mmcv-$1" cflags=""
    rm -rf "$src" "$WORK/dist" && mkdir -p "$src" || return 1
    tar -xzf "$WORK/mmcv-${MMCV_VERSION}.tar.gz" -C "$src" --strip-components=1 || return 1
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py" || return 1
    grep -q 'c++20' "$src/setup.py" || { log "could not patch the C++ standard in mmcv's setup.py"; return 1; }
    if [ "$FLAVOUR" = cpu ]; then
        cflags="$($PY -c 'import sysconfig; print(sysconfig.get_config_var("CFLAGS") or "")') -O2 -g0"
    fi
    if [ "$1" = unity ]; then
        local units=$((2 * JOBS))
        [ "$units" -ge 3 ] || units=3
        $PY "$ROOT/tools/misc/unity_sources.py" "$src" \
            mmcv/ops/csrc/pytorch mmcv/ops/csrc/pytorch/cpu --units "$units" \
            --apart cpu/bezier_align.cpp,cpu/roi_align.cpp,cpu/roi_align_rotated.cpp \
            --apart cpu/bezier_align.cpp,cpu/roi_align.cpp,cpu/rotated_feature_align.cpp \
            --last cpu/psamask.cpp | sed 's/^/[setup_env]   /' || return 1
    fi
    ( cd "$src" && export MMCV_WITH_OPS=1 FORCE_CUDA="$FORCE_CUDA" MAX_JOBS="$JOBS" &&
        if [ -n "$cflags" ]; then export CFLAGS="$cflags"; fi &&
        $PY -m pip wheel --disable-pip-version-check --no-build-isolation --no-deps \
            -w "$WORK/dist" . ) || return 1
}

MMCV_WHEEL=$(ls "$CACHE"/mmcv-${MMCV_VERSION}+torch${TORCH_VERSION}${MMCV_TAG}-${PYTAG}-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$MMCV_WHEEL" ]; then
    # Download the sdist only (its metadata step needs torch, hence --no-build-isolation).
    $PY -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
        --no-build-isolation "mmcv==${MMCV_VERSION}" -d "$WORK"
    if [ "$FLAVOUR" = cpu ]; then
        log "step 2/3: building mmcv ${MMCV_VERSION} (cpu ops, unity build, -O2 -g0, ${JOBS} jobs); about 2 min on 2 cores, done once"
        if ! build_mmcv unity; then
            log "the unity build failed; building mmcv file by file instead (same flags; ~6 min on 2 cores)"
            build_mmcv plain || { log "mmcv build failed"; exit 1; }
        fi
    else
        log "step 2/3: building mmcv ${MMCV_VERSION} (cuda ops, ${JOBS} jobs); done once"
        build_mmcv plain || { log "mmcv build failed"; exit 1; }
    fi
    BUILT=$(ls "$WORK"/dist/mmcv-*.whl)
    MMCV_WHEEL=$(publish "$BUILT" \
        "$(basename "$BUILT" | sed "s/^mmcv-${MMCV_VERSION}-/mmcv-${MMCV_VERSION}+torch${TORCH_VERSION}${MMCV_TAG}-/")")
    log "step 2/3: cached $MMCV_WHEEL"
else
    log "step 2/3: reusing cached mmcv wheel $MMCV_WHEEL"
fi
# The cache name carries a local tag that pip would reject as a wheel filename; install a copy
# under the canonical name.
mkdir -p "$WORK/mmcv-install"
cp "$MMCV_WHEEL" "$WORK/mmcv-install/mmcv-${MMCV_VERSION}-$(basename "$MMCV_WHEEL" | sed "s/^mmcv-${MMCV_VERSION}+torch${TORCH_VERSION}${MMCV_TAG}-//")"
$PIP --no-deps "$WORK"/mmcv-install/mmcv-*.whl

if [ -n "$DCRF_PID" ]; then
    log "waiting for the pydensecrf2 wheel"
    if ! wait "$DCRF_PID"; then
        DCRF_PID=
        cat "$WORK/pydensecrf2.log"
        log "building the pydensecrf2 wheel failed (its log is above)"
        exit 1
    fi
    DCRF_PID=
    BUILT=$(ls "$WORK"/dcrf/pydensecrf2-*.whl)
    DCRF_WHEEL=$(publish "$BUILT" "$(basename "$BUILT")")
    log "pydensecrf2: cached $DCRF_WHEEL"
fi

log "step 3/3: OpenMMLab packages, pydensecrf2, mmwsss (editable, with test extras)"
$PIP -e "$ROOT[tests]" "mmengine==0.10.7" "mmsegmentation==1.2.2" "mmpretrain==1.2.0" \
    "$DCRF_WHEEL" "pycocotools>=2.0.8" \
    "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}" "setuptools==80.9.0"
$PY -c "import torch, mmcv.ops, mmseg.models, mmpretrain.models, pydensecrf.densecrf, mmwsss
# one compiled kernel on the CPU: the lower-scored of two overlapping boxes is suppressed
b = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
_, keep = mmcv.ops.nms(b, torch.tensor([0.9, 0.8, 0.7]), 0.5)
assert keep.tolist() == [0, 2], keep
print('[setup_env] ok: mmcv', mmcv.__version__, '(ops run), mmseg', mmseg.__version__,
      'mmwsss', mmwsss.__version__)"
log "done"
