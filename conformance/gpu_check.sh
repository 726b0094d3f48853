#!/bin/sh
# conformance/gpu_check.sh - the prepared GPU check (`make gpu-check`).
#
# On a machine with an NVIDIA GPU it builds OCS for the card nvidia-smi
# reports (its compute capability, one -gencode), then runs
#   1. the conformance suite on the cuda backend: ocs run --backend cuda
#      (every generated case, diffed against the reference; JUnit XML and
#      the scoreboard under $GPU_CHECK_OUT);
#   2. the backend's unit test (tests/test_cuda.c), which on a device runs
#      PagedAttention and MoE cases against the reference with poisoned
#      output buffers;
#   3. the GPU benchmark (backends/cuda/gpu_bench.c): device-to-device copy
#      bandwidth and cuBLAS GEMM rates measured in the same run, then the
#      target cases with their ratios and correctness checks;
# and prints one table.  Each step runs under a timeout; the whole check
# takes a few minutes (most of it the build; --prebuilt skips that).
#
#   sh conformance/gpu_check.sh                  build here, then run
#   sh conformance/gpu_check.sh --pack DIR [CC]  no GPU needed: build for compute capability CC
#                                                (default 9.0) and write DIR/ocs-gpu.tar.xz, the three
#                                                programs and the shared libraries they need that a
#                                                CUDA image may lack (OpenBLAS, protobuf-c, libxml2 ...)
#   sh conformance/gpu_check.sh --prebuilt DIR   run from such a pack (DIR holds ocs-gpu.tar.xz or its
#                                                unpacked files), building nothing
#
# Environment: BUILD (default build-gpu-smXY), GPU_CHECK_OUT (default reports/gpu), GPU_CHECK_TIMEOUT
# (seconds each step may run, default 300), NVCC, CC, JOBS.
# Exit status: 0 when the build, every conformance case run on cuda, the unit test and every benchmark
# correctness check pass (a missed speed target is shown in the table, it is not an error); 1 otherwise;
# 2 when there is no GPU or the arguments are wrong.

set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2

NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$NVCC")")}
CC=${CC:-cc}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
OUT=${GPU_CHECK_OUT:-reports/gpu}
STEP=${GPU_CHECK_TIMEOUT:-300}

usage() {
    sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
}

mode=build
pack_dir=""
pack_cc=9.0
case "${1:-}" in
"") ;;
--pack)
    [ $# -ge 2 ] || { usage; exit 2; }
    mode=pack; pack_dir=$2; pack_cc=${3:-9.0} ;;
--prebuilt)
    [ $# -ge 2 ] || { usage; exit 2; }
    mode=prebuilt; pack_dir=$2 ;;
-h|--help) usage; exit 0 ;;
*) usage; exit 2 ;;
esac

now() { date +%s; }

# "9.0" -> "-gencode arch=compute_90,code=sm_90"
arch_flags() {
    a=$(echo "$1" | tr -d '.')
    echo "-gencode arch=compute_${a},code=sm_${a}"
}

# Builds ocs, tests/test_cuda and the benchmark driver into $BUILD for compute capability $1.
build() {
    flags=$(arch_flags "$1")
    mkdir -p "$BUILD"
    if ! make BUILD="$BUILD" CUDA_ARCH="$flags" -j"$JOBS" "$BUILD/ocs" "$BUILD/tests/test_cuda" >"$OUT/build.log" 2>&1; then
        echo "gpu-check: the build failed; the end of $OUT/build.log:" >&2
        tail -n 20 "$OUT/build.log" >&2
        return 1
    fi
    # the benchmark's driver: `ocs cuda-bench` when the CLI has it, else a three-line main
    if "$BUILD/ocs" cuda-bench --help >/dev/null 2>&1; then
        # shellcheck disable=SC2016
        printf '#!/bin/sh\nexec "$(dirname "$0")/ocs" cuda-bench "$@"\n' >"$BUILD/cuda-bench"
        chmod +x "$BUILD/cuda-bench"
        return 0
    fi
    printf '%s\n' '#include "gpu_bench.h"' \
        'int main(int argc, char **argv) { return ocs_cuda_bench_main(argc, argv); }' >"$BUILD/cuda_bench_main.c"
    objs=$(find "$BUILD" -name '*.o' ! -path "$BUILD/conformance/*" ! -path "$BUILD/tests/*" \
        ! -path "$BUILD/plugins/*" ! -name 'cuda_bench_main.o' | sort)
    # shellcheck disable=SC2086,SC2046
    if ! $CC -std=c11 -O2 -Iinclude -Ibackends/cuda -I"$CUDA_HOME/include" -o "$BUILD/cuda-bench" \
        "$BUILD/cuda_bench_main.c" $objs -lprotobuf-c $(pkg-config --libs libxml-2.0 2>/dev/null) -lopenblas \
        -L"$CUDA_HOME/lib64" -Wl,-rpath,"$CUDA_HOME/lib64" -lcublas -lcudart -lnvrtc -lstdc++ -ldl -lpthread -lm \
        >>"$OUT/build.log" 2>&1; then
        echo "gpu-check: linking the benchmark driver failed (see $OUT/build.log)" >&2
        return 1
    fi
}

# ---- --pack: build here and bundle what a bare CUDA image needs -------------------------------------------
if [ "$mode" = pack ]; then
    BUILD=${BUILD:-build-gpu-sm$(echo "$pack_cc" | tr -d '.')}
    OUT=$BUILD
    mkdir -p "$BUILD" "$pack_dir" || exit 2
    [ -x "$NVCC" ] || { echo "gpu-check: --pack needs nvcc ($NVCC)" >&2; exit 2; }
    build "$pack_cc" || exit 1
    stage=$(mktemp -d) || exit 1
    mkdir -p "$stage/lib"
    for p in ocs tests/test_cuda cuda-bench; do
        cp "$BUILD/$p" "$stage/" && strip --strip-debug "$stage/$(basename "$p")" 2>/dev/null
    done
    # shared libraries outside glibc, the C++ runtime and CUDA (the GPU image brings those)
    for p in "$BUILD/ocs" "$BUILD/tests/test_cuda" "$BUILD/cuda-bench"; do
        ldd "$p" | awk '$3 ~ /^\// {print $3}'
    done | sort -u | while read -r lib; do
        case $(basename "$lib") in
        libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libstdc++.so*|libgcc_s.so*) ;;
        libcu*|libnvrtc*|libnvJitLink*) ;;
        *) cp -L "$lib" "$stage/lib/" ;;
        esac
    done
    tar -C "$stage" -cJf "$pack_dir/ocs-gpu.tar.xz" . || exit 1
    rm -rf "$stage"
    echo "gpu-check: wrote $pack_dir/ocs-gpu.tar.xz ($(du -h "$pack_dir/ocs-gpu.tar.xz" | cut -f1)) for compute capability $pack_cc"
    exit 0
fi

# ---- the GPU ---------------------------------------------------------------------------------------------------
gpu=$(nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)
if [ -z "$gpu" ]; then
    echo "gpu-check: no NVIDIA GPU here (nvidia-smi reports none); nothing to check" >&2
    exit 2
fi
gpu_name=$(echo "$gpu" | cut -d, -f1 | sed 's/^ *//')
cc=$(echo "$gpu" | cut -d, -f2 | tr -d ' ')
driver=$(echo "$gpu" | cut -d, -f3 | tr -d ' ')
BUILD=${BUILD:-build-gpu-sm$(echo "$cc" | tr -d '.')}
mkdir -p "$OUT" || exit 2
t_start=$(now)

# ---- build (or unpack) ----------------------------------------------------------------------------------------------
t0=$(now)
build_result=ok
if [ "$mode" = prebuilt ]; then
    bin=$pack_dir
    if [ -f "$pack_dir/ocs-gpu.tar.xz" ]; then
        bin=$(mktemp -d) && tar -C "$bin" -xJf "$pack_dir/ocs-gpu.tar.xz" || build_result=FAILED
    fi
    OCS=$bin/ocs
    TEST=$bin/test_cuda
    BENCH=$bin/cuda-bench
    LD_LIBRARY_PATH=$bin/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export LD_LIBRARY_PATH
    build_what="prebuilt ($pack_dir)"
else
    build "$cc" || build_result=FAILED
    OCS=$BUILD/ocs
    TEST=$BUILD/tests/test_cuda
    BENCH=$BUILD/cuda-bench
    build_what="make BUILD=$BUILD for sm_$(echo "$cc" | tr -d '.')"
fi
t_build=$(($(now) - t0))

fail=0
run_result="not run"
unit_result="not run"
bench_rc=1
t_run=0
t_unit=0
t_bench=0
if [ "$build_result" = ok ]; then
    # ---- 1. conformance on the cuda backend ------------------------------------------------------------
    t0=$(now)
    timeout "$STEP" "$OCS" run --backend cuda -j 8 --junit "$OUT/junit.xml" --scoreboard "$OUT/scoreboard.md" -q \
        >"$OUT/run.log" 2>&1
    rc=$?
    t_run=$(($(now) - t0))
    run_result=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$OUT/run.log" | tail -n 1)
    [ -n "$run_result" ] || run_result="no summary (exit $rc; see $OUT/run.log)"
    [ "$rc" -eq 124 ] && run_result="TIMED OUT after $STEP s; $run_result"
    [ "$rc" -eq 0 ] || fail=1

    # ---- 2. the unit test, with its device comparisons -----------------------------------------------------
    t0=$(now)
    OCS_SHARED=${OCS_SHARED:-../shared} OCS_BUILD=$BUILD timeout "$STEP" "$TEST" >"$OUT/test_cuda.log" 2>&1
    rc=$?
    t_unit=$(($(now) - t0))
    passed=$(grep -E '^\[  PASSED  \] [0-9]+ test' "$OUT/test_cuda.log" | grep -oE '[0-9]+' | head -n 1)
    skipped=$(grep -E '^\[  SKIPPED \] [0-9]+ test' "$OUT/test_cuda.log" | grep -oE '[0-9]+' | head -n 1)
    if [ "$rc" -eq 0 ]; then
        unit_result="ok: ${passed:-?} passed, ${skipped:-0} skipped"
    else
        unit_result="FAILED (exit $rc): $(grep -E 'FAILED|ERROR|error:' "$OUT/test_cuda.log" | head -n 2 | tr '\n' ' ')"
        fail=1
    fi

    # ---- 3. the benchmark ------------------------------------------------------------------------------------
    t0=$(now)
    timeout "$STEP" "$BENCH" --repeat 20 --json "$OUT/bench.json" >"$OUT/bench.log" 2>&1
    bench_rc=$?
    t_bench=$(($(now) - t0))
    [ "$bench_rc" -eq 0 ] || fail=1
else
    fail=1
fi

# ---- the table -----------------------------------------------------------------------------------------------------
echo
echo "OCS GPU check: $gpu_name (compute capability $cc, driver $driver), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "| step | result | seconds |"
echo "|---|---|---:|"
echo "| build: $build_what | $build_result | $t_build |"
echo "| conformance: ocs run --backend cuda (all generated cases) | $run_result | $t_run |"
echo "| unit test: test_cuda (device vs reference, poisoned outputs) | $unit_result | $t_unit |"
if [ -f "$OUT/bench.log" ]; then
    ceil=$(grep -E '^ceilings' "$OUT/bench.log" | sed 's/^ceilings (same run): //')
    echo "| bench ceilings (same run) | ${ceil:-not measured} | $t_bench |"
    # the benchmark's rows: | case | median ms | rate | ceiling | ratio | target | speed | check |
    grep -E '^\| (pa|moe)_' "$OUT/bench.log" | awk -F'|' '{
        gsub(/^ +| +$/, "", $2); gsub(/^ +| +$/, "", $3); gsub(/^ +| +$/, "", $4); gsub(/^ +| +$/, "", $5);
        gsub(/^ +| +$/, "", $6); gsub(/^ +| +$/, "", $7); gsub(/^ +| +$/, "", $8); gsub(/^ +| +$/, "", $9);
        printf "| bench %s | %s ms, %s = %s of %s; target %s: %s; check %s | |\n", $2, $3, $4, $6, $5, $7, $8, $9 }'
    [ "$bench_rc" -eq 0 ] || echo "| bench | FAILED (exit $bench_rc): $(grep -vE '^\||^$' "$OUT/bench.log" | tail -n 2 | tr '\n' ' ') | |"
fi
echo "| total | $([ "$fail" -eq 0 ] && echo PASS || echo FAIL) | $(($(now) - t_start)) |"
echo
echo "logs and reports: $OUT/ (build.log, run.log, junit.xml, scoreboard.md, test_cuda.log, bench.log, bench.json)"
exit "$fail"
