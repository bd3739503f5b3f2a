#!/bin/bash
# The default-run recipe search of session 5 (issue 12) as it ran on the H200, from the worktree's
# root, packed as /work/tools/pack-wt.sh does (Node there), with /tmp/moby.txt written as
# torch_recipe.py's header says: `bash examples/peers/recipe-h200.sh GRIDS.json` (5 GPU sweep
# processes sharing one queue, on cores 8-15) beside flashgrad's wasm step at candidate shapes,
# each bench pinned to its own 2 cores of 0-7, with os.cpus() cut to those 2 (two-cpus.cjs) so
# gpu.js's worker pool is sized as on a 2-core machine. Logs under $OUT.
grids=${1:-examples/peers/recipe-sweep-session5b.json}
export PYTHONUNBUFFERED=1
{ date -u; lscpu | grep -E 'Model name|Thread|Core|Socket'; node --version; } > $OUT/env.txt 2>&1
rm -f /tmp/q
for k in 1 2 3 4 5; do
  OMP_NUM_THREADS=1 taskset -c 8-15 timeout 62 python3 examples/peers/torch_recipe_sweep.py "$grids" $OUT/sweep.jsonl --device cuda --deadline 50 --queue /tmp/q >> $OUT/sweep.log 2>&1 &
done
bench() {
  local cpus=$1; shift
  for s in "$@"; do
    read -r L H C T B <<< "$s"
    r=$(NODE_OPTIONS="--require $PWD/examples/peers/two-cpus.cjs" timeout 30 taskset -c "$cpus" node examples/bench-step.js wasm --shape tiny --n-layer "$L" --n-head "$H" --n-embd "$C" --block-size "$T" --batch "$B" --steps 8 --warmup 3 --tag h200 2>&1 | grep -E '^tiny \|')
    echo "cpus $cpus | L$L H$H C$C T$T B$B | $r | load $(cut -d' ' -f1 /proc/loadavg)" >> $OUT/flashgrad.txt
  done
}
bench 0,1 "2 4 128 64 12" "2 4 128 64 16" "2 4 128 64 24" "2 4 128 64 12" &
bench 2,3 "4 4 128 64 12" "3 4 128 64 12" "4 4 128 64 16" "4 4 128 64 12" &
bench 4,5 "1 4 128 64 12" "2 4 160 64 12" "2 4 192 64 12" "2 4 64 64 16" &
bench 6,7 "2 4 128 32 24" "2 8 128 64 12" "3 4 192 64 12" "4 4 96 64 12" &
wait
