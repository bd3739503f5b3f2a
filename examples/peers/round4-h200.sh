#!/usr/bin/env bash
# The integrated H200 run behind BENCHMARKS.md "Round 4": the GPU suites, FlashAttention at one head
# and at B·H = 8 (block-sparse and causal), the peers step, `small` at B64 and GPT-2 124M at B4 T1024,
# each beside PyTorch in the same run. Logs land in $OUT.
#   on the device machine, from the repository root: bash examples/peers/round4-h200.sh
set -u
out=${OUT:-bench-results/h200}; mkdir -p "$out"
r() { local name=$1 secs=$2; shift 2; echo "== $name $(date -u +%T)"; timeout "$secs" "$@" > "$out/$name.log" 2>&1; echo "rc=$?" >> "$out/$name.log"; grep -v 'BackendVk\|^Warning' "$out/$name.log" | tail -4; }
OUT=$out bash examples/peers/h200.sh suites
r torch-att 40 python3 examples/peers/torch_attention.py 1 1 1024 4096 16384
r torch-att8 30 python3 examples/peers/torch_attention.py 2 4 4096
r flash1 90 env BENCH_METHODS=flash BENCH_B=1 BENCH_H=1 node examples/bench-attention.js webgpu
r sparse8 70 env BENCH_SPARSITY=0,0.5 BENCH_B=2 BENCH_H=4 node examples/bench-attention.js webgpu
r step 40 node examples/bench-step.js webgpu --steps 30 --warmup 5
r small-b64 70 node examples/bench-train.js webgpu --presets small --batch 64 --steps 10 --warmup 2 --maxSeconds 30
r gpt2 90 node examples/bench-step.js webgpu --shape gpt2 --steps 5 --warmup 2
r torch-step 60 python3 examples/peers/torch-gpt-step.py cuda
r torch-gpt2 90 python3 examples/peers/torch-gpt-step.py cuda gpt2
