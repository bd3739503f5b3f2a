#!/usr/bin/env bash
# The GPT step on the H200, session 4 (BENCHMARKS.md "The GPT step on the H200 (session 4)"):
#   profile  one GPT-2 124M step (B4 T1024) and one `small` step at B64, every kernel timed, per
#            kernel key (kernel and shapes)
#   matmul   the tiled matmul at the squares and the GPT-2 head's three shapes, with PyTorch beside
#   step     bench-train small B64 and bench-step gpt2 (flash), PyTorch eager's same two steps
#   final    the closing run (see below)
# On the device machine, from the repository root: bash examples/peers/step-h200.sh [profile] [matmul] [step] [final]
set -u
parts=${*:-profile matmul step}
# `matmul` as a whole word only (so that no other part's name turns it on)
has() { [[ " $parts " == *" $1 "* ]]; }
export DAWN_FLAGS=${DAWN_FLAGS:-backend=vulkan} WGPU_FEATURE_LEVEL=${WGPU_FEATURE_LEVEL:-core}
out=${OUT:-bench-results/h200}; mkdir -p "$out"
run() { local name=$1 secs=$2; shift 2; echo "== $name ($(date -u +%T))"; timeout "$secs" "$@" > "$out/$name.log" 2>&1; echo "rc=$?" >> "$out/$name.log"; grep -v 'BackendVk\|^Warning' "$out/$name.log" | tail -${TAIL:-6}; }
if has profile; then
  run profile-gpt2 150 node examples/bench-step.js webgpu --shape gpt2 --steps 2 --warmup 1 --profile --top 70 --tag prof
  run profile-small64 90 node examples/bench-step.js webgpu --shape small --batch 64 --steps 2 --warmup 1 --profile --top 40 --tag prof
fi
if has matmul; then
  heads='gpt2 lm head (·Wteᵀ),gpt2 lm head dX (dL·Wte),gpt2 lm head dW (dLᵀ·X)'
  run matmul 200 env BENCH_BEFORE=0 BENCH_RUNS=${BENCH_RUNS:-5} BENCH_CALLS=${BENCH_CALLS:-10} BENCH_SHAPES="${MATMUL_SHAPES:-square 1024²,square 2048²,square 4096²,mlp fc 4096×768×3072,$heads}" \
    BENCH_TILED_SHAPES="${MATMUL_TILED:-square 4096²,$heads}" BENCH_TILES="${MATMUL_TILES:-128×128×16/8×8,128×64×16/8×4,128×128×16/8×8 M first,128×64×16/8×4 M first}" node examples/bench-matmul-webgpu.js
  run matmul-torch 60 env BENCH_RUNS=5 python3 examples/bench-matmul-torch.py
fi
if has step; then
  run small-b64 90 node examples/bench-train.js webgpu --presets small --batch 64 --steps 10 --warmup 2 --maxSeconds 30
  run gpt2-step 120 node examples/bench-step.js webgpu --shape gpt2 --steps 5 --warmup 2
  run torch-small 60 python3 examples/peers/torch-gpt-step.py cuda
  run torch-gpt2 90 python3 examples/peers/torch-gpt-step.py cuda gpt2
fi
if has final; then
  # session 4's closing measurement: the step rows (gpt2 profiled in the same process), the idle
  # cache at 16 GiB against the default, the matmul's A-quads tiling at the squares, PyTorch's steps
  run gpt2-step 150 node examples/bench-step.js webgpu --shape gpt2 --steps 5 --warmup 2 --profile --top 40 --tag final
  run small-b64 90 node examples/bench-train.js webgpu --presets small --batch 64 --steps 10 --warmup 2 --maxSeconds 30
  run gpt2-cache16g 120 env FLASHGRAD_GPU_CACHE_MB=16384 node examples/bench-step.js webgpu --shape gpt2 --steps 4 --warmup 2 --tag cache16g
  run matmul 90 env BENCH_BEFORE=0 BENCH_RUNS=5 BENCH_SHAPES="square 2048²,square 4096²,mlp fc 4096×768×3072" BENCH_TILED_SHAPES="square 4096²,mlp fc 4096×768×3072" \
    BENCH_TILES="128×128×16/8×8,128×128×16/8×8 A quads,128×64×16/8×4 A quads" node examples/bench-matmul-webgpu.js
  run torch-small 60 python3 examples/peers/torch-gpt-step.py cuda
  run torch-gpt2 90 python3 examples/peers/torch-gpt-step.py cuda gpt2
fi
cp bench-results/*.json "$out/" 2>/dev/null || true
