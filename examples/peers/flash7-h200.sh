#!/usr/bin/env bash
# The H200 run behind BENCHMARKS.md "FlashAttention, session 6, second pass (flash7)", one command,
# one log ($OUT/flash7.log): the kernels under the shipped plan beside flash7-variants.js at
# B·H = 8, N = 4096 dense and half the 64 × 64 blocks hidden, then at one head N = 1024…8192; then
# end to end (bench-attention): block-sparse at B·H = 8, flash and naive at one head; PyTorch SDPA
# in the same command. A part starts only while less than BUDGET (170) seconds have gone.
#   on the device machine: bash examples/peers/flash7-h200.sh
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
log=$out/flash7.log; budget=${BUDGET:-170}
variants="$PWD/examples/peers/flash7-variants.js"
clocks_start
part ksparse8 50 env BENCH_N=4096 BENCH_BH=8 BENCH_SPARSITY=0,0.5 FLASH7_VARIANTS=F2,F3,F4,F6,D2,D3,D4,D6 BENCH_VARIANTS="$variants" node examples/bench-flash-kernels.js
part kone 60 env BENCH_N=1024,2048,4096,8192 BENCH_BH=1 FLASH7_VARIANTS=F0,F1,F3,F4,F5,D0,D1,D3,D4,D5 BENCH_VARIANTS="$variants" node examples/bench-flash-kernels.js
part sparse8 30 env BENCH_SPARSITY=0,0.5 BENCH_B=2 BENCH_H=4 node examples/bench-attention.js webgpu
part flash1 45 env BENCH_METHODS=flash BENCH_B=1 BENCH_H=1 node examples/bench-attention.js webgpu
part naive1 35 env BENCH_METHODS=naive BENCH_B=1 BENCH_H=1 BENCH_MAX_N=8192 node examples/bench-attention.js webgpu
part torch8 20 python3 examples/peers/torch_attention.py 2 4 4096
part torch1 25 python3 examples/peers/torch_attention.py 1 1 1024 2048 4096 8192
clocks_stop
