#!/usr/bin/env bash
# The GPT step on the H200, session 6 (BENCHMARKS.md "The GPT step on the H200, session 6 (step6)"):
#   profile  `small` at B64 (T256): the plain step and one profiled step with every call replayed
#            8× (GPU ms per kernel key); a CPU profile of the plain steps (host time by function);
#            bench-train's step (the measured figure) and PyTorch's same steps
#   probe    after the clip and qkv changes: elementwise kernels by thread layout, small B64's GPU
#            table, and a CPU profile of its timed steps only
#   final    the closing run: bench-train small B64 twice beside PyTorch's same steps, GPT-2 124M at
#            B4 T1024 (bench-step; its loss) beside PyTorch's, the peers step
# On the device machine, from the repository root: bash examples/peers/step6-h200.sh [profile] [probe] [final]
set -u
parts=${*:-profile}
has() { [[ " $parts " == *" $1 "* ]]; }
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if has profile; then
  run small-b64 60 node examples/bench-train.js webgpu --presets small --batch 64 --steps 10 --warmup 2 --maxSeconds 30
  run profile-small64 90 node examples/bench-step.js webgpu --shape small --batch 64 --steps 5 --warmup 2 --profile --top 70 --tag prof
  rm -rf /tmp/cpuprof; run cpuprof-small64 60 node --cpu-prof --cpu-prof-dir=/tmp/cpuprof examples/bench-step.js webgpu --shape small --batch 64 --steps 10 --warmup 2
  TAIL=40 run cpuprof-summary 30 node examples/cpuprof-top.js /tmp/cpuprof 12
  run torch-small 60 python3 examples/peers/torch-gpt-step.py cuda
fi
if has probe; then
  # after the clip and qkv changes: elementwise layouts, the GPU table, host time by function over the timed steps
  run elementwise 60 node examples/bench-elementwise-webgpu.js --calls 40
  run profile-small64 90 node examples/bench-step.js webgpu --shape small --batch 64 --steps 5 --warmup 2 --profile --top 70 --tag probe
  rm -rf /tmp/cpuprof; run cpuprof-small64 60 node examples/bench-step.js webgpu --shape small --batch 64 --steps 10 --warmup 2 --cpuprof /tmp/cpuprof
  TAIL=60 run cpuprof-summary 30 node examples/cpuprof-top.js /tmp/cpuprof 10 50
fi
if has final; then
  run small-b64 60 node examples/bench-train.js webgpu --presets small --batch 64 --steps 10 --warmup 2 --maxSeconds 30
  run torch-small 60 python3 examples/peers/torch-gpt-step.py cuda
  # the submit limit's A/B: gpu.js's 64 against the runtime's 16, same code otherwise
  run small-b64-submit64 60 env FLASHGRAD_SUBMIT_LIMIT=64 node examples/bench-train.js webgpu --presets small --batch 64 --steps 10 --warmup 2 --maxSeconds 30
  run small-b64-again 60 node examples/bench-train.js webgpu --presets small --batch 64 --steps 10 --warmup 2 --maxSeconds 30
  run gpt2 90 node examples/bench-step.js webgpu --shape gpt2 --steps 10 --warmup 2
  run torch-gpt2 60 python3 examples/peers/torch-gpt-step.py cuda gpt2 b4
  run step 40 node examples/bench-step.js webgpu --steps 30 --warmup 5
  run profile-small64 90 node examples/bench-step.js webgpu --shape small --batch 64 --steps 5 --warmup 2 --profile --top 40 --tag final
fi
cp bench-results/*.json "$out/" 2>/dev/null || true
