#!/usr/bin/env bash
# The integrated H200 run behind BENCHMARKS.md "Round 5" (then named round5-h200.sh), "Round 6" and "Round 7":
# the GPU suites (with the large-buffer tests), FlashAttention and naive attention at one head,
# block-sparse and causal at B·H = 8, the peers step, `small` at B64 and GPT-2 124M at B4 T1024 (its
# loss printed: it must be finite), matmul at every GPT shape, each beside PyTorch in the same run.
# PROFILE=1 adds a CPU profile of the peers step (its host time), SPARSE_KERNELS=1 the block-sparse
# kernels one at a time. Logs land in $OUT.   on the device machine, from the repository root:
#   bash examples/peers/integrated-h200.sh
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nvidia-smi --query-gpu=clocks.sm --format=csv,noheader -lms 2000 > "$out/clocks.log" 2>&1 &
clocks=$!
run suites 280 node_modules/.bin/vitest run --config test/vitest.config.ts --project fused test/gpujs-webgpu.test.ts test/gpujs-submit.test.ts \
  test/matmul-tiled.test.ts test/device-equivalence.test.ts test/device-ops-equivalence.test.ts test/online-softmax.test.ts test/attention.test.ts test/large-buffers.test.ts
run flash1 100 env BENCH_METHODS=flash BENCH_B=1 BENCH_H=1 node examples/bench-attention.js webgpu
run naive1 60 env BENCH_METHODS=naive BENCH_B=1 BENCH_H=1 BENCH_MAX_N=8192 node examples/bench-attention.js webgpu
run torch-att 40 python3 examples/peers/torch_attention.py 1 1 256 512 1024 2048 4096 8192 16384
run sparse8 50 env BENCH_SPARSITY=0,0.5 BENCH_B=2 BENCH_H=4 node examples/bench-attention.js webgpu
run torch-att8 20 python3 examples/peers/torch_attention.py 2 4 4096
[ -n "${SPARSE_KERNELS:-}" ] && run ksparse8 40 env BENCH_N=4096 BENCH_BH=8 BENCH_SPARSITY=0,0.5 node examples/bench-flash-kernels.js
run step 40 node examples/bench-step.js webgpu --steps 30 --warmup 5
[ -n "${PROFILE:-}" ] && run step-prof 40 bash -c "node examples/bench-step.js webgpu --steps 30 --warmup 5 --cpuprof $out/prof && node examples/cpuprof-top.js $out/prof 30 30"
run torch-step 60 python3 examples/peers/torch-gpt-step.py cuda
run small-b64 70 node examples/bench-train.js webgpu --presets small --batch 64 --steps 10 --warmup 2 --maxSeconds 30
run gpt2 90 node examples/bench-step.js webgpu --shape gpt2 --steps 10 --warmup 2
run torch-gpt2 60 python3 examples/peers/torch-gpt-step.py cuda gpt2 b4
run matmul 120 env BENCH_BEFORE=0 BENCH_RUNS=5 BENCH_CALLS=5 BENCH_TILED_SHAPES=none node examples/bench-matmul-webgpu.js
run matmul-torch 60 env BENCH_RUNS=5 python3 examples/bench-matmul-torch.py
kill "$clocks"
cp bench-results/*.json "$out/" 2>/dev/null || true
