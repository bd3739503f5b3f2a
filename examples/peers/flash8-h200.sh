#!/usr/bin/env bash
# The H200 run behind BENCHMARKS.md "FlashAttention, session 7 (flash8): split-KV backward", one
# command, one log ($OUT/flash8.log): the kernels under the shipped plan beside flash8-variants.js
# at one head N = 2048…8192 in two processes (dense), then causal at 4096 and 8192; then end to end (bench-attention):
# block-sparse at B·H = 8, flash and naive at one head; PyTorch SDPA in the same command. A part
# starts only while less than BUDGET (240) seconds have gone.
#   on the device machine: bash examples/peers/flash8-h200.sh
set -u
export DAWN_FLAGS=${DAWN_FLAGS:-backend=vulkan} WGPU_FEATURE_LEVEL=${WGPU_FEATURE_LEVEL:-core}
out=${OUT:-bench-results/h200}; mkdir -p "$out"; log=$out/flash8.log
budget=${BUDGET:-240}; start=$SECONDS
variants="$PWD/examples/peers/flash8-variants.js"
part() { local name=$1 secs=$2; shift 2
  if (( SECONDS - start > budget )); then echo "== $name skipped (budget)" >> "$log"; return; fi
  echo "== $name ($(date -u +%T)) $*" >> "$log"
  timeout "$secs" "$@" 2>&1 | grep -v 'BackendVk\|^Warning\|^ *at \|^$' >> "$log"; echo "rc=${PIPESTATUS[0]}" >> "$log"; }
nvidia-smi --query-gpu=clocks.sm --format=csv,noheader -lms 5000 > "$out/clocks.txt" 2>&1 &
clocks=$!
part kone 100 env BENCH_N=${KN:-2048,4096,8192} BENCH_BH=1 BENCH_VARIANTS="$variants" node examples/bench-flash-kernels.js
part kone-again 80 env BENCH_N=${KN2:-4096,8192} BENCH_BH=1 BENCH_VARIANTS="$variants" node examples/bench-flash-kernels.js
part kcausal 60 env BENCH_N=4096,8192 BENCH_BH=1 BENCH_CAUSAL=1 FLASH8_VARIANTS=${KCV:-F1,F2,Q1,Q2,D1,D2,D3,D4} BENCH_VARIANTS="$variants" node examples/bench-flash-kernels.js
[ -n "${KERNELS_ONLY:-}" ] && { kill "$clocks"; echo "== clocks (MHz, every 5 s): $(tr '\n' ' ' < "$out/clocks.txt")" >> "$log"; exit 0; }
part sparse8 30 env BENCH_SPARSITY=0,0.5 BENCH_B=2 BENCH_H=4 node examples/bench-attention.js webgpu
part flash1 45 env BENCH_METHODS=flash BENCH_B=1 BENCH_H=1 node examples/bench-attention.js webgpu
part naive1 35 env BENCH_METHODS=naive BENCH_B=1 BENCH_H=1 BENCH_MAX_N=8192 node examples/bench-attention.js webgpu
part torch8 20 python3 examples/peers/torch_attention.py 2 4 4096
part torch1 25 python3 examples/peers/torch_attention.py 1 1 256 512 1024 2048 4096 8192
kill "$clocks"; echo "== clocks (MHz, every 5 s): $(tr '\n' ' ' < "$out/clocks.txt")" >> "$log"
