#!/usr/bin/env bash
# Runs on the lent GPU machine, from the repository root, after `make gpu-bundle` here and a
# device call that carries .carry. Unpacks the bundle into build/, then runs what is asked:
#   tests/gpu/device.sh test [NAME...]  make test-gpu's suite (tests/run.sh gpu), or the tests named
#   tests/gpu/device.sh bench ARGS  waterfall run ARGS (results/results.db)
#   tests/gpu/device.sh profile STAGE MODEL RANGE...
#                                   ncu's per-kernel summary (device time of every kernel, kernels
#                                   serialised) of the kernels inside the NVTX ranges named
#                                   (e.g. mask_decoder/) over a short eval (batch 8: one warm-up batch
#                                   and one timed batch of 8 images, 16 decoder calls),
#                                   then the eval of 16 images unprofiled for its phase_ms
# Logs and the results database are copied to $OUT when it is set.
set -u
cd "$(dirname "$0")/../.."
if [ ! -x build/sam-fp32 ]; then
    tar -xJf .carry/bundle.tar.xz || { echo "sam: cannot unpack .carry/bundle.tar.xz"; exit 1; }
fi
# The fixtures come only when the call carried them (.carry whole, not .carry/bundle.tar.xz).
if [ ! -d build/fixtures/sam-golden ] && [ -f .carry/sam-golden.tar.xz ]; then
    mkdir -p build/fixtures && tar -C build/fixtures -xJf .carry/sam-golden.tar.xz
fi
export BUILD=build
# cuDNN for sam-sdpa (and the tests that call its attention): the executables' RUNPATH names
# /usr/local/cuda/lib64, which on this machine may lack cuDNN (design.md section 8). Prefer the
# 9.19 in PyTorch's environment, else the system's 9.14 (design.md section 8; the H200 runs so
# far loaded 9.19). cuDNN 9 opens its sub-libraries (libcudnn_graph, libcudnn_engines_*) with
# dlopen, so the whole folder goes on the path; the
# describe JSON of a run (eval's hello line, test_sdpa's "NOTE device") names the one loaded.
for d in /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib /usr/lib/x86_64-linux-gnu; do
    if [ -e "$d/libcudnn.so.9" ]; then
        export LD_LIBRARY_PATH="$d:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        v=$(python3 -c "import ctypes,sys; v=ctypes.CDLL(sys.argv[1]).cudnnGetVersion(); print(f'{v//10000}.{v//100%100}.{v%100}')" \
            "$d/libcudnn.so.9" 2>/dev/null)
        echo "cuDNN ${v:-(version unknown)} from $d"
        break
    fi
done
[ -n "${LD_LIBRARY_PATH:-}" ] || echo "no cuDNN 9 found: sam-sdpa and test_sdpa cannot run"
# cuSPARSELt for sam-sparse and test_sparse24 (opened with dlopen): only PyTorch's environment
# has it here (0.8.0, the version the build's headers are). Their RUNPATH names this folder
# too; on the path it also serves a copy of the executables elsewhere.
csl=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cusparselt/lib
if [ -e $csl/libcusparseLt.so.0 ]; then
    export LD_LIBRARY_PATH="$csl${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
    echo "no cuSPARSELt in $csl: sam-sparse and test_sparse24 cannot run"
fi
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.total --format=csv,noheader
what=${1:-test}
shift || true
rc=0
case $what in
test)
    bash tests/run.sh gpu "$@" 2>&1 | tee build/test-gpu.log
    rc=${PIPESTATUS[0]}
    [ -n "${OUT:-}" ] && cp build/test-gpu.log "$OUT/" && cp -r build/test-logs/gpu "$OUT/test-logs" 2>/dev/null
    ;;
bench)
    build/waterfall run "$@" 2>&1 | tee build/bench.log
    rc=${PIPESTATUS[0]}
    # The database comes back as a transport copy (files from the device are limited to
    # 16 MiB each): every run, experiment, batch sample, per-annotation IoU and agreement, but
    # not the top masks' RLE (agreement is already computed; the RLEs of 8 experiments are over
    # 100 MB compressed). Here: unxz it and `build/waterfall import results.db`.
    if [ -n "${OUT:-}" ]; then
        cp build/bench.log "$OUT/"
        # Through SQLite's backup API, not cp (tests/gpu/steps_lib.sh db_back): the database is
        # in WAL mode, and a copy of results.db alone can miss committed pages (two such copies
        # came back "malformed" on 2026-12-01).
        . tests/gpu/steps_lib.sh
        db_back results/results.db results.db.xz
    fi
    ;;
profile)
    stage=${1:-bf16} model=${2:-vit_b}
    shift 2 || true
    coco=build/data/synthetic-coco
    [ -f $coco/annotations/instances_val2017.json ] || build/sam-data synth --out $coco >/dev/null
    args=(eval --checkpoint synthetic:$model --coco $coco --batch-size 8 --limit 16 --warmup 1)
    filters=()
    for r in "$@"; do filters+=(--nvtx-include "$r"); done
    log=build/profile-$stage-$model.log
    { echo "## ncu ${filters[*]} build/sam-$stage ${args[*]}"
      ncu --clock-control none --nvtx "${filters[@]}" --metrics gpu__time_duration.sum \
          --print-summary per-kernel build/sam-$stage "${args[@]}" --limit 8 2>&1 | grep -v '^{'
      echo "## unprofiled"
      build/sam-$stage "${args[@]}" 2>&1 | grep '"summary"'; } >$log 2>&1
    rc=$?
    cat $log
    [ -n "${OUT:-}" ] && cp $log "$OUT/"
    ;;
*)
    echo "usage: tests/gpu/device.sh test | bench ARGS | profile STAGE MODEL RANGE..." >&2
    rc=2
    ;;
esac
exit $rc
