#!/usr/bin/env bash
# The integrated H200 run behind BENCHMARKS.md "Round 3": the GPU suites, the peers GPT step, the
# `small` preset at nanoGPT's batch 64, GPT-2 124M at B4 T1024 (through `pnpm train` and bench-train),
# each beside PyTorch eager fp32 in the same run. Logs land in $OUT (or bench-results/h200).
#   on the device machine, from the repository root: bash examples/peers/h200.sh [bench] [suites]
set -u
parts=${*:-bench suites}
export DAWN_FLAGS=${DAWN_FLAGS:-backend=vulkan} WGPU_FEATURE_LEVEL=${WGPU_FEATURE_LEVEL:-core}
out=${OUT:-bench-results/h200}; mkdir -p "$out"
run() { local name=$1 secs=$2; shift 2; echo "== $name ($(date -u +%T))"; timeout "$secs" "$@" > "$out/$name.log" 2>&1; echo "rc=$?" >> "$out/$name.log"; grep -v 'BackendVk\|^Warning' "$out/$name.log" | tail -6; }
if [[ $parts == *suites* ]]; then
  run suites 280 node_modules/.bin/vitest run --config test/vitest.config.ts --project fused test/gpujs-webgpu.test.ts test/gpujs-submit.test.ts \
    test/matmul-tiled.test.ts test/device-equivalence.test.ts test/device-ops-equivalence.test.ts test/online-softmax.test.ts test/attention.test.ts
fi
[[ $parts == *bench* ]] || exit 0
run step 60 node examples/bench-step.js webgpu --steps 30 --warmup 5
run torch-step 60 python3 examples/peers/torch-gpt-step.py cuda
run small-b64 90 node examples/bench-train.js webgpu --presets small --batch 64 --steps 10 --warmup 2 --maxSeconds 30
run gpt2-b4 120 node examples/bench-train.js webgpu --presets gpt2 --batch 4 --steps 5 --warmup 2 --maxSeconds 40
run gpt2-train 100 node examples/train.js --preset gpt2 --tokenizer gpt2 --device webgpu --batch 4 --steps 4 --eval-every 2 --eval-iters 1 --sample-tokens 8 --out "$out/gpt2-run"
run torch-gpt2 90 python3 examples/peers/torch-gpt-step.py cuda gpt2
cp bench-results/*.json "$out/" 2>/dev/null || true
rm -rf "$out/gpt2-run"/*.safetensors
