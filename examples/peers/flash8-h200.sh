#!/usr/bin/env bash
# The H200 run behind BENCHMARKS.md "FlashAttention, session 7 (flash8): split-KV backward", one
# command, one log ($OUT/flash8.log): the kernels under the shipped plan beside flash8-variants.js
# at one head N = 2048…8192 in two processes (dense), then causal at 4096 and 8192; then end to end (bench-attention):
# block-sparse at B·H = 8, flash and naive at one head; PyTorch SDPA in the same command. A part
# starts only while less than BUDGET (240) seconds have gone.
#   on the device machine: bash examples/peers/flash8-h200.sh
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
log=$out/flash8.log; budget=${BUDGET:-240}
variants="$PWD/examples/peers/flash8-variants.js"
clocks_start
part kone 100 env BENCH_N=${KN:-2048,4096,8192} BENCH_BH=1 BENCH_VARIANTS="$variants" node examples/bench-flash-kernels.js
part kone-again 80 env BENCH_N=${KN2:-4096,8192} BENCH_BH=1 BENCH_VARIANTS="$variants" node examples/bench-flash-kernels.js
part kcausal 60 env BENCH_N=4096,8192 BENCH_BH=1 BENCH_CAUSAL=1 FLASH8_VARIANTS=${KCV:-F1,F2,Q1,Q2,D1,D2,D3,D4} BENCH_VARIANTS="$variants" node examples/bench-flash-kernels.js
[ -n "${KERNELS_ONLY:-}" ] && { clocks_stop; exit 0; }
part sparse8 30 env BENCH_SPARSITY=0,0.5 BENCH_B=2 BENCH_H=4 node examples/bench-attention.js webgpu
part flash1 45 env BENCH_METHODS=flash BENCH_B=1 BENCH_H=1 node examples/bench-attention.js webgpu
part naive1 35 env BENCH_METHODS=naive BENCH_B=1 BENCH_H=1 BENCH_MAX_N=8192 node examples/bench-attention.js webgpu
part torch8 20 python3 examples/peers/torch_attention.py 2 4 4096
part torch1 25 python3 examples/peers/torch_attention.py 1 1 256 512 1024 2048 4096 8192
clocks_stop
