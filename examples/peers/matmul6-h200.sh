#!/usr/bin/env bash
# The H200 runs behind BENCHMARKS.md "Matmul, session 6 (matmul6)": the webgpu tiled matmul beside
# PyTorch (cuBLAS fp32, TF32 off) in one device command. Parts (any of them, in order):
#   torch   examples/bench-matmul-torch.py at every shape
#   tiles   every shape: the chosen tile and it with unroll 4 / prefetch; tilings at 4 headline shapes
#   flags   the chosen tile without Dawn's range analysis, and with robustness off (the ceiling)
#   repeat  4096², 9 batches of 20 calls, the large tile's variants
#   next    (not yet run) the large tile with and without prefetch, interleaved, at every shape it serves;
#           the matmul and gpu.js suites
# From the worktree: npx tsc -b; bash /work/tools/pack-wt.sh NAME; on the device:
#   bash .device-NAME/run.sh bash examples/peers/matmul6-h200.sh torch tiles flags repeat
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench() { env BENCH_BEFORE=0 BENCH_RUNS=${RUNS:-5} BENCH_CALLS=${CALLS:-10} "$@" node examples/bench-matmul-webgpu.js; }
large="square 2048²,square 4096²,mlp fc 4096×768×3072,gpt2 qkv +bias,gpt2 lm head (·Wteᵀ),gpt2 lm head dW (dLᵀ·X),attn S=QKᵀ 48×1024²×64,small qkv 4096×384×1152,small attn S 96×256²×64,small B64 qkv 16384×384×1152,small B64 fc 16384×384×1536,small B64 mlp proj 16384×1536×384,small B64 attn proj 16384×384×384,small B64 dX fc (·Wᵀ) 16384×1536×384,small B64 dW fc (Xᵀ·) 384×16384×1536,small B64 dW qkv (Xᵀ·) 384×16384×1152"
for part in "$@"; do
  case $part in
    torch) TAIL=30 run torch 60 env BENCH_RUNS=5 BENCH_CALLS=10 python3 examples/bench-matmul-torch.py ;;
    tiles) TAIL=200 run tiles 150 bench BENCH_MODS='{"unroll":1}|{"prefetch":true}|{"prefetch":true,"unroll":1}' \
      BENCH_TILED_SHAPES='square 4096²,square 2048²,mlp fc 4096×768×3072,square 1024²' \
      BENCH_TILES='128×128×16/8×8,128×128×16/8×8 A quads,128×128×16/8×8 A quads u2,128×128×16/8×8 A quads u4,128×128×16/8×8 A quads u16,128×128×16/8×8 A quads staged,128×128×16/8×8 A quads staged u4,128×64×16/8×4 u4,128×64×16/8×4 staged u4' ;;
    flags)
      TAIL=10 DAWN_FLAGS=backend=vulkan,disable-dawn-features=enable_integer_range_analysis_in_robustness run no-range 40 bench \
        BENCH_SHAPES='square 4096²,mlp fc 4096×768×3072,square 1024²' BENCH_TILED_SHAPES=none BENCH_MODS='{"unroll":1}'
      TAIL=10 DAWN_FLAGS=backend=vulkan,enable-dawn-features=disable_robustness run no-robustness 40 bench \
        BENCH_SHAPES='square 4096²,mlp fc 4096×768×3072' BENCH_TILED_SHAPES=none BENCH_MODS='{"unroll":1}' ;;
    repeat) TAIL=10 RUNS=9 CALLS=20 run repeat 60 bench BENCH_SHAPES='square 4096²' BENCH_TILED_SHAPES='square 4096²' \
      BENCH_TILES='128×128×16/8×8 A quads,128×128×16/8×8 A quads u4,128×128×16/8×8 A quads u16,128×128×16/8×8 A quads staged u4' ;;
    next)
      TAIL=80 run prefetch 90 bench BENCH_SHAPES="$large" BENCH_TILED_SHAPES=none BENCH_MODS='{"prefetch":true}|{}|{"prefetch":true}'
      run suites 400 node_modules/.bin/vitest run --config test/vitest.config.ts --project fused test/gpujs-webgpu.test.ts test/matmul-tiled.test.ts ;;
    *) echo "unknown part $part"; exit 2 ;;
  esac
done
