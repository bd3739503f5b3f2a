# Shared by the H200 run scripts (sourced): the Dawn flags, $out (logs; $OUT on the device), and
#   run NAME SECONDS COMMAND…   COMMAND's output to $out/NAME.log with its exit status appended,
#                               and the last TAIL (4) lines of it, without Dawn's warnings, shown
export DAWN_FLAGS=${DAWN_FLAGS:-backend=vulkan} WGPU_FEATURE_LEVEL=${WGPU_FEATURE_LEVEL:-core}
out=${OUT:-bench-results/h200}; mkdir -p "$out"
run() { local name=$1 secs=$2; shift 2; echo "== $name ($(date -u +%T))"; timeout "$secs" "$@" > "$out/$name.log" 2>&1; echo "rc=$?" >> "$out/$name.log"; grep -v 'BackendVk\|^Warning' "$out/$name.log" | tail -"${TAIL:-4}"; }
# One-log scripts (flash7-h200.sh, flash8-h200.sh, repeat-h200.sh) set $log and $budget (seconds), then
#   part NAME SECONDS COMMAND…   COMMAND's output appended to $log without Dawn's warnings, with its
#                                exit status; skipped once more than $budget seconds have gone
#   clocks_start / clocks_stop   sample the SM clock every 5 s, appended to $log at the stop
start=$SECONDS
part() { local name=$1 secs=$2; shift 2
  if (( SECONDS - start > budget )); then echo "== $name skipped (budget)" >> "$log"; return; fi
  echo "== $name ($(date -u +%T)) $*" >> "$log"
  timeout "$secs" "$@" 2>&1 | grep -v 'BackendVk\|^Warning\|^ *at \|^$' >> "$log"; echo "rc=${PIPESTATUS[0]}" >> "$log"; }
clocks_start() { nvidia-smi --query-gpu=clocks.sm --format=csv,noheader -lms 5000 > "$out/clocks.txt" 2>&1 & clocks=$!; }
clocks_stop() { kill "$clocks"; echo "== clocks (MHz, every 5 s): $(tr '\n' ' ' < "$out/clocks.txt")" >> "$log"; }
