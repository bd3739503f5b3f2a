#!/usr/bin/env bash
# The same attention measurements in REPEAT (3) separate processes, for the figures whose spread
# between processes is as large as the difference they decide (BENCHMARKS.md "Round 7", "causal not
# slower" and "flash faster than naive" at N ≤ 1024, the block-sparse margin): flash and naive
# fwd+bwd at one head (N ≤ MAX_N, 4096), block-sparse and causal at B·H = 8, N = SPARSE_N (4096),
# and the one-head kernels dense and causal at KN (2048, 4096, 8192: the wide dK/dV tile once read
# 3.67 ms at causal 4096); PyTorch SDPA once in the same command. Parts start while less than
# BUDGET (420) seconds have gone. One log, $OUT/repeat.log.   on the device machine:
#   bash examples/peers/repeat-h200.sh
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
log=$out/repeat.log; budget=${BUDGET:-420}
clocks_start
for i in $(seq "${REPEAT:-3}"); do
  part "flash1 #$i" 60 env BENCH_METHODS=flash BENCH_B=1 BENCH_H=1 BENCH_MAX_N=${MAX_N:-4096} node examples/bench-attention.js webgpu
  part "naive1 #$i" 40 env BENCH_METHODS=naive BENCH_B=1 BENCH_H=1 BENCH_MAX_N=${MAX_N:-4096} node examples/bench-attention.js webgpu
  part "sparse8 #$i" 40 env BENCH_SPARSITY=0,0.5 BENCH_SPARSE_N=${SPARSE_N:-4096} BENCH_B=2 BENCH_H=4 node examples/bench-attention.js webgpu
  part "kcausal1 #$i" 40 env BENCH_N=${KN:-2048,4096,8192} BENCH_BH=1 BENCH_CAUSAL=0,1 node examples/bench-flash-kernels.js
done
part torch1 25 python3 examples/peers/torch_attention.py 1 1 256 512 1024 2048 4096
part torch8 20 python3 examples/peers/torch_attention.py 2 4 4096
clocks_stop
