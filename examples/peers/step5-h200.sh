#!/usr/bin/env bash
# The GPT step on the H200, session 5 (BENCHMARKS.md "The GPT step on the H200, session 5"):
#   profile  GPT-2 124M (B4 T1024) and `small` at B64 (T256): the plain step (median of 5), then one
#            profiled step with every call replayed 8× back to back (GPU ms per kernel key)
#   torch    PyTorch eager's same steps (peers, small B64, GPT-2 at B1/B4), SDPA beside
#   matmul   every GPT shape of examples/matmul-shapes.json, the chosen tile with and without A by
#            transposed quads (BENCH_AQUADS=1), and PyTorch's same shapes
#   ab       profile for both shapes with the default tiles and with A by transposed quads everywhere
#   step     the plain steps only: bench-step gpt2, bench-train small B64 (Round 4's commands)
#   final    the closing run: gpt2 (profiled too), small B64, PyTorch's same steps
# On the device machine, from the repository root: bash examples/peers/step5-h200.sh [profile] [ab] [torch] [matmul] [step] [final]
set -u
parts=${*:-profile torch matmul}
has() { [[ " $parts " == *" $1 "* ]]; }
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if has profile; then
  run profile-gpt2 120 node examples/bench-step.js webgpu --shape gpt2 --steps 5 --warmup 2 --profile --top 45 --tag prof
  run profile-small64 90 node examples/bench-step.js webgpu --shape small --batch 64 --steps 5 --warmup 2 --profile --top 45 --tag prof
fi
if has ab; then
  # the A/B of run 2: the default tiles against A by transposed quads everywhere, both shapes profiled
  run profile-gpt2 120 node examples/bench-step.js webgpu --shape gpt2 --steps 5 --warmup 2 --profile --top 45 --tag prof
  run profile-gpt2-aquads 120 node examples/bench-step.js webgpu --shape gpt2 --steps 5 --warmup 2 --profile --top 45 --tiles aquads --tag aquads
  run profile-small64 90 node examples/bench-step.js webgpu --shape small --batch 64 --steps 5 --warmup 2 --profile --top 45 --tag prof
  run profile-small64-aquads 90 node examples/bench-step.js webgpu --shape small --batch 64 --steps 5 --warmup 2 --profile --top 45 --tiles aquads --tag aquads
fi
if has step; then
  run gpt2-step 90 node examples/bench-step.js webgpu --shape gpt2 --steps 5 --warmup 2
  run small-b64 70 node examples/bench-train.js webgpu --presets small --batch 64 --steps 10 --warmup 2 --maxSeconds 30
fi
if has final; then
  # the closing run: the two steps as Round 4 measured them, GPT-2 profiled in the same process,
  # PyTorch's same steps (B4 T1024 only for GPT-2)
  run gpt2-step 100 node examples/bench-step.js webgpu --shape gpt2 --steps 5 --warmup 2 --profile --top 45 --tag final
  run small-b64 70 node examples/bench-train.js webgpu --presets small --batch 64 --steps 10 --warmup 2 --maxSeconds 30
  run torch-small 60 python3 examples/peers/torch-gpt-step.py cuda
  run torch-gpt2 60 python3 examples/peers/torch-gpt-step.py cuda gpt2 b4
fi
if has torch; then
  run torch-small 60 python3 examples/peers/torch-gpt-step.py cuda
  run torch-gpt2 90 python3 examples/peers/torch-gpt-step.py cuda gpt2
fi
if has matmul; then
  run matmul 150 env BENCH_BEFORE=0 BENCH_AQUADS=1 BENCH_RUNS=${BENCH_RUNS:-5} BENCH_CALLS=${BENCH_CALLS:-5} BENCH_TILED_SHAPES=none node examples/bench-matmul-webgpu.js
  run matmul-torch 60 env BENCH_RUNS=5 python3 examples/bench-matmul-torch.py
fi
cp bench-results/*.json "$out/" 2>/dev/null || true
