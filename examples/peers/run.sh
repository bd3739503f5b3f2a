#!/usr/bin/env bash
# Same work, same machine, one run: TensorFlow.js 4.22 (the peers' script) next to flashgrad's
# bench-step and bench-kernels, then a ratio table (examples/peers/ratios.js). tfjs is installed
# into a scratch folder outside the repository and never becomes a workspace dependency.
#
#   bash examples/peers/run.sh [wasm|webgpu|cpu]          (default wasm)
#   PEERS_DIR=/tmp/peers PEERS_ONLY=gpt bash examples/peers/run.sh wasm
#
# env: PEERS_DIR      scratch folder for the tfjs install (default ~/.cache/flashgrad-peers)
#      PEERS_SCRIPT   the peers' benchmark (default ../shared/peers/tfjs-bench.mjs, copied there)
#      PEERS_ONLY     what tfjs runs: matmul,attn,gpt (default matmul,gpt: attention has its own bench)
#      PEERS_MATMUL   matmul sizes (default 256,512,1024)
#      STEPS          timed GPT steps for flashgrad (default 10)
# webgpu: DAWN_FLAGS / WGPU_FEATURE_LEVEL as in shared/peers/README.md (flashgrad picks its own).
set -euo pipefail
mode="${1:-wasm}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
peers_dir="${PEERS_DIR:-$HOME/.cache/flashgrad-peers}"
script="${PEERS_SCRIPT:-$root/../shared/peers/tfjs-bench.mjs}"
only="${PEERS_ONLY:-matmul,gpt}"
sizes="${PEERS_MATMUL:-256,512,1024}"
out="$root/bench-results"
mkdir -p "$peers_dir" "$out"

if [ ! -d "$peers_dir/node_modules/@tensorflow/tfjs" ]; then
  echo "installing tfjs 4.22 into $peers_dir (outside the repository)"
  (cd "$peers_dir" && { [ -f package.json ] || echo '{"private":true,"type":"module"}' > package.json; } &&
    npm i --no-audit --no-fund @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0 \
      @tensorflow/tfjs-backend-webgpu@4.22.0 webgpu@0.6.2)
fi
cp "$script" "$peers_dir/tfjs-bench.mjs"

echo "== tfjs $mode"
(cd "$peers_dir" && node tfjs-bench.mjs "$mode" --only="$only" --matmul="$sizes" --gpt-steps=23 --json="$out/peers-tfjs-$mode.json") | grep -v '^RESULT'

echo "== flashgrad $mode"
(cd "$root" && npx tsc -b)
(cd "$root" && node examples/bench-step.js "$mode" --steps "${STEPS:-10}" --tag peers)
# bench-kernels writes bench-results/kernels-<mode>.json: keep the previous one, file this run's aside
kernels="$out/kernels-$mode.json"
if [ -f "$kernels" ]; then cp "$kernels" "$kernels.keep"; fi
(cd "$root" && BENCH_MAX_MATMUL="${sizes##*,}" node examples/bench-kernels.js "$mode")
mv "$kernels" "$out/peers-kernels-$mode.json"
if [ -f "$kernels.keep" ]; then mv "$kernels.keep" "$kernels"; fi

node "$root/examples/peers/ratios.js" "$mode"
