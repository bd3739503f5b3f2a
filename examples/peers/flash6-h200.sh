#!/usr/bin/env bash
# The H200 runs behind BENCHMARKS.md "FlashAttention, session 6 (flash6)". The kernels one at a time
# beside the variants of flash6-variants.js (KV picks them by position) and, where the directory
# exists, a previous build's kernels (BASE, default examples/peers/flash5-dist: session 6 put an
# untracked copy of Round 5's packages/attention/dist there); causal and block-sparse at B·H = 8;
# flash (and with NAIVE=1 naive) at one head; PyTorch SDPA in the same command; with TESTS=1 the
# webgpu flash suite. Logs land in $OUT.   on the device machine: bash examples/peers/flash6-h200.sh
set -u
TAIL=${TAIL:-3}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nvidia-smi --query-gpu=clocks.sm --format=csv,noheader -lms 2000 > "$out/clocks.log" 2>&1 &
clocks=$!
base=${BASE:-examples/peers/flash5-dist}
[ -d "$base" ] || base=
run kernels1 60 env BENCH_N=${KN:-16384} BENCH_BH=1 ${base:+BENCH_BASELINE=$base} FLASH6_VARIANTS=${KV:-0,1,2,4,5,6} BENCH_VARIANTS="$PWD/examples/peers/flash6-variants.js" node examples/bench-flash-kernels.js
run kernels8 30 env BENCH_N=4096 BENCH_BH=8 BENCH_CAUSAL=0,1 ${base:+BENCH_BASELINE=$base} FLASH6_VARIANTS=0 BENCH_VARIANTS="$PWD/examples/peers/flash6-variants.js" node examples/bench-flash-kernels.js
run sparse8 30 env BENCH_SPARSITY=0,0.5 BENCH_B=2 BENCH_H=4 node examples/bench-attention.js webgpu
run flash1 50 env BENCH_METHODS=flash BENCH_B=1 BENCH_H=1 node examples/bench-attention.js webgpu
[ "${NAIVE:-0}" = 1 ] && run naive1 40 env BENCH_METHODS=naive BENCH_B=1 BENCH_H=1 BENCH_MAX_N=8192 node examples/bench-attention.js webgpu
run torch-att 30 python3 examples/peers/torch_attention.py 1 1 ${TORCH_N:-256 512 1024 2048 4096 8192 16384}
run torch-att8 20 python3 examples/peers/torch_attention.py 2 4 4096
[ "${TESTS:-0}" = 1 ] && run tests 120 node_modules/.bin/vitest run --config test/vitest.config.ts --project fused test/attention.test.ts -t webgpu
kill "$clocks"
