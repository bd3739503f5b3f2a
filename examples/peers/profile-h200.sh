set -u
for a in "--shape gpt2 --steps 3 --warmup 1 --profile --tag gpt2" "--shape gpt2 --steps 3 --warmup 1 --attention naive --tag gpt2-naive" "--shape small --batch 64 --steps 3 --warmup 1 --profile --tag small64" "--shape small --batch 64 --steps 3 --warmup 1 --attention naive --tag small64-naive"; do
  echo "== $a"; timeout 120 node examples/bench-step.js webgpu $a 2>&1 | grep -v 'BackendVk\|^Warning' | head -40
done
