#!/usr/bin/env bash
# The GPU check: the CUDA tests, the CUDA benchmarks (stage limits 420 s) and the proof run (a
# faithful StylEx on a 64 px world for $PROOF_MINUTES minutes, default 2.5, then its fidelity, flip
# rate and recovery: benchmarks/proof_run.py; limit PROOF_MINUTES x 60 + 150 s) on one GPU,
# installing nothing. ONLY=bench or ONLY=proof runs just that part (two calls of under 8 minutes). Every stage has its own time limit and writes into the output folder as it goes, so a
# stage that fails or runs out of time leaves the others' results.
#
#   benchmarks/gpu_check.sh [OUT_DIR]        (default: $OUT, else ./gpu_check_out)
#
# Output: proof/proof.json, env.txt (GPU, driver, versions), tests.txt (pytest of the CUDA tests), one folder per
# benchmark section (results.json, results.md, log.txt), RESULTS.md (the blocks to paste into
# benchmarks/RESULTS.md) and summary.txt (each stage's exit status and seconds).
# Python: .venv/bin/python if its torch sees a GPU, else python3 (needs torch, numpy, h5py, tqdm,
# pillow, pytest); run from a checkout of the repository (stylex is imported from it).
set -u
cd "$(dirname "$0")/.."
OUT_DIR="${1:-${OUT:-gpu_check_out}}"
mkdir -p "$OUT_DIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

PY=""
for candidate in .venv/bin/python python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
        PY="$candidate"
        break
    fi
done
if [ -z "$PY" ]; then
    echo "no Python whose torch sees a CUDA device" | tee "$OUT_DIR/summary.txt"
    exit 1
fi

stage() {  # stage NAME SECONDS COMMAND...: run with a time limit, log its status and duration
    local name="$1" limit="$2"
    shift 2
    local start=$SECONDS
    timeout --kill-after=5 "$limit" "$@"
    local status=$?
    echo "$name: exit $status, $((SECONDS - start)) s (limit $limit s)" | tee -a "$OUT_DIR/summary.txt"
}

: > "$OUT_DIR/summary.txt"
{
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm --format=csv
    "$PY" -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), torch.cuda.get_device_name(0))"
    git log -1 --format='commit %H %s' 2>/dev/null
} > "$OUT_DIR/env.txt" 2>&1

ONLY="${ONLY:-}"
if [ "$ONLY" != "proof" ]; then
# CUDA tests: fused = non-fused, batched AttFind = CPU reference, bf16 keeps the attributes, training steps.
stage tests 80 "$PY" -m pytest -q -p no:cacheprovider -rs tests/test_benchmarks.py -k cuda > "$OUT_DIR/tests.txt" 2>&1

bench() {  # bench NAME SECONDS SECTION SIZES: one benchmark section at some sizes, in its own folder
    mkdir -p "$OUT_DIR/$1"
    stage "$1" "$2" "$PY" -m benchmarks.run --device cuda --only "$3" --sizes "$4" --out "$OUT_DIR/$1" \
        --results "$OUT_DIR/RESULTS.md" > "$OUT_DIR/$1/log.txt" 2>&1
}
bench generator 30 generator repro-64,paper-128,paper-256
bench attfind-64 50 attfind repro-64
bench attfind-256 110 attfind paper-256
bench training-64 50 training repro-64
bench training-128 50 training paper-128
bench training-256 50 training paper-256
fi

if [ "$ONLY" != "bench" ]; then
    PROOF_MINUTES="${PROOF_MINUTES:-2.5}"
    stage proof "$(python3 -c "print(int($PROOF_MINUTES * 60 + 150))")" "$PY" -m benchmarks.proof_run \
        --out "$OUT_DIR/proof" --device cuda --minutes "$PROOF_MINUTES" > "$OUT_DIR/proof_log.txt" 2>&1
fi
cat "$OUT_DIR/summary.txt"
