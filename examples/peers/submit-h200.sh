#!/usr/bin/env bash
# One device run for BENCHMARKS.md "gpu.js extension: one submission": host µs per tiny kernel call
# with the published gpu.js and the patched one, the peers GPT step with each, PyTorch eager on the
# same step, and a CPU profile of the patched step. Logs and JSON land in $OUT.
#   bash examples/peers/submit-h200.sh [path/to/torch-gpt-step.py]
set -u
out=${OUT:-/tmp/submit-out}; mkdir -p "$out"
g=$(dirname "$(readlink -f node_modules/.pnpm/gpu.js@2.24.1_patch*/node_modules/gpu.js)")   # gpu.js-base beside it: see bench-submit.js
torch=${1:-../shared/peers/torch-gpt-step.py}
swap() { mv "$g/gpu.js" "$g/gpu.js-tmp"; mv "$g/$1" "$g/gpu.js"; mv "$g/gpu.js-tmp" "$g/$1"; }
{
  date -u; nproc
  echo "== bench-submit, published gpu.js"; GPUJS=$g/gpu.js-base node examples/bench-submit.js --tag before
  echo "== bench-submit, patched"; node examples/bench-submit.js --tag after
  echo "== bench-submit, patched, submit limit 1"; node examples/bench-submit.js --tag after-limit1 --submit-limit 1
  echo "== peers step, patched"; node examples/bench-step.js webgpu --steps 30 --warmup 5 --tag after
  echo "== peers step, published gpu.js"; swap gpu.js-base; node examples/bench-step.js webgpu --steps 30 --warmup 5 --tag before; swap gpu.js-base
  echo "== PyTorch eager"; python3 "$torch" cuda
  echo "== CPU profile, patched"; node --cpu-prof --cpu-prof-dir="$out/prof" examples/bench-step.js webgpu --steps 10 --warmup 3 --tag prof
  date -u
} > "$out/submit.log" 2>&1
grep -v '^Warning' "$out/submit.log" | grep -v 'BackendVk\|^    at ' | tail -80
cp bench-results/*.json "$out/" 2>/dev/null || true
