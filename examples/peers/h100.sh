#!/usr/bin/env bash
# One batch of every GPU figure in BENCHMARKS.md, for the device tool's H100 (webgpu over Vulkan).
# Run there as: bash .device/gpu-run.sh bash examples/peers/h100.sh   (after ../shared/device/pack.sh;
# copy ../shared/peers/torch-gpt-step.py into .device/ for the PyTorch row)
set -u
export DAWN_FLAGS=backend=vulkan WGPU_FEATURE_LEVEL=core
logs=bench-results/h100; mkdir -p "$logs"; out=${OUT:-$logs}
run() { local name=$1 secs=$2; shift 2; echo "== $name"; timeout "$secs" "$@" > "$logs/$name.log" 2>&1; echo "rc=$?" >> "$logs/$name.log"; tail -3 "$logs/$name.log"; }
run equivalence 200 node_modules/.bin/vitest run --config test/vitest.config.ts test/device-equivalence.test.ts test/device-ops-equivalence.test.ts test/attention.test.ts test/online-softmax.test.ts
run design 90 node examples/bench-webgpu-design.js 4096 2048 1024,768,3072
run kernels 50 env BENCH_BUDGET_MS=6000 node examples/bench-kernels.js webgpu
run step-off 35 env FLASHGRAD_FUSION=off node examples/bench-step.js webgpu --steps 10 --tag unfused
run step-on 35 node examples/bench-step.js webgpu --steps 10
run step-small 60 node examples/bench-step.js webgpu --shape small --steps 5 --warmup 2 --profile --tag small
run train 60 node examples/bench-train.js webgpu --maxSeconds 20
run attention-1head 60 env BENCH_B=1 BENCH_H=1 BENCH_CAP_MS=3000 BENCH_MAX_N=16384 node examples/bench-attention.js webgpu
run attention 60 env BENCH_CAP_MS=4000 node examples/bench-attention.js webgpu
if command -v python3 >/dev/null && python3 -c 'import torch' 2>/dev/null; then
  run torch-attention 30 python3 examples/peers/torch_attention.py 1 1 1024 4096 16384
  run torch-step 45 python3 .device/torch-gpt-step.py cuda
fi
tar -czf "$out/results.tgz" bench-results/*.json "$logs"
