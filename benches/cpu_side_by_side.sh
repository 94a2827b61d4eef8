#!/usr/bin/env bash
# The issue-15 CPU table: ggml's CPU kernels (TQ2_0, TQ1_0, Q4_0; `test-backend-ops perf`) and
# `bitmat bench --device cpu` (W2A8 canonical and planes layouts, W4A16, W4A8, beside the
# streaming-read floor it measures), on the same machine, one after the other, repeated.
#
# Usage: benches/cpu_side_by_side.sh [repeats]   (default 2)
# Environment:
#   GGML_DIR   ggml source with benches/ggml-issue15-shapes.patch applied, built with
#              cmake -B build -DGGML_NATIVE=ON -DCMAKE_BUILD_TYPE=Release -DGGML_BUILD_TESTS=ON
#              cmake --build build --target test-backend-ops -j
#              (default /work/ggml-src; ggml-org/ggml commit d99724f2 was used)
#   BITMAT     the bitmat binary (default target/release/bitmat, built with --features llvm)
#   SHAPES     N x K list (default 11008x4096,28672x8192); MS: M list (default 1,32)
#   BENCH_ARGS extra `bitmat bench` arguments (e.g. --no-flush, --backend cranelift)
# Every run prints `uptime` first: figures from a run whose load average is above 2.5 on
# this 2-core machine are contended and must be reported as such.
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-2}
GGML_DIR=${GGML_DIR:-/work/ggml-src}
BITMAT=${BITMAT:-target/release/bitmat}
SHAPES=${SHAPES:-11008x4096,28672x8192}
MS=${MS:-1,32}
echo "## $(date -u +%FT%TZ)"
lscpu | grep -E 'Model name|^CPU\(s\)|L3'
grep -o -w -E 'avx2|fma|f16c|avx512f|avx512bw|avx512_vnni|avx_vnni|amx_int8' /proc/cpuinfo | sort -u | tr '\n' ' '
echo
"$BITMAT" info | head -3
ggml_regex="type_a=(tq2_0|tq1_0|q4_0),type_b=f32,m=(11008|28672),n=(1|32),k=(4096|8192),bs=\[1,1\],nr=\[1,1\]"
for i in $(seq "$repeats"); do
    echo "### run $i: ggml ($(uptime | sed 's/.*load/load/'))"
    "$GGML_DIR/build/bin/test-backend-ops" perf -o MUL_MAT -b CPU -p "$ggml_regex" 2>&1 \
        | grep -E 'MUL_MAT\(' | sed -E 's/,bs=.*\):/:/; s/\x1b\[[0-9;]*m//g'
    echo "### run $i: bitmat ($(uptime | sed 's/.*load/load/'))"
    # shellcheck disable=SC2086
    "$BITMAT" bench --device cpu --m "$MS" --shapes "$SHAPES" ${BENCH_ARGS:-}
done
echo "## done ($(uptime | sed 's/.*load/load/'))"
