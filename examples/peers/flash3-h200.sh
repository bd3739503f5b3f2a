#!/usr/bin/env bash
# The H200 run behind BENCHMARKS.md "FlashAttention, session 5 (flash3)": flash and naive at one
# head, block-sparse and causal at B·H = 8, the kernels one at a time under the tile bands of flash3-variants.js,
# PyTorch SDPA in the same command, then the webgpu flash suites. Logs land in $OUT.
#   on the device machine, from the repository root: bash examples/peers/flash3-h200.sh
set -u
TAIL=${TAIL:-3}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nvidia-smi --query-gpu=clocks.sm --format=csv,noheader -lms 2000 > "$out/clocks.log" 2>&1 &
clocks=$!
run flash1 100 env BENCH_METHODS=flash BENCH_B=1 BENCH_H=1 node examples/bench-attention.js webgpu
run naive1 60 env BENCH_METHODS=naive BENCH_B=1 BENCH_H=1 BENCH_MAX_N=8192 node examples/bench-attention.js webgpu
run torch-att 40 python3 examples/peers/torch_attention.py 1 1 256 512 1024 2048 4096 8192 16384
run torch-att8 20 python3 examples/peers/torch_attention.py 2 4 4096
run kernels 60 env BENCH_N=4096,8192,16384 BENCH_BH=1 BENCH_VARIANTS="$PWD/examples/peers/flash3-variants.js" node examples/bench-flash-kernels.js
run tests 100 node_modules/.bin/vitest run --config test/vitest.config.ts --project fused test/attention.test.ts test/gpujs-webgpu.test.ts -t webgpu
run sparse8 50 env BENCH_SPARSITY=0,0.5 BENCH_B=2 BENCH_H=4 node examples/bench-attention.js webgpu
kill "$clocks"
