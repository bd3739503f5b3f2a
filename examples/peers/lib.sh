# Shared by the H200 run scripts (sourced): the Dawn flags, $out (logs; $OUT on the device), and
#   run NAME SECONDS COMMAND…   COMMAND's output to $out/NAME.log with its exit status appended,
#                               and the last TAIL (4) lines of it, without Dawn's warnings, shown
export DAWN_FLAGS=${DAWN_FLAGS:-backend=vulkan} WGPU_FEATURE_LEVEL=${WGPU_FEATURE_LEVEL:-core}
out=${OUT:-bench-results/h200}; mkdir -p "$out"
run() { local name=$1 secs=$2; shift 2; echo "== $name ($(date -u +%T))"; timeout "$secs" "$@" > "$out/$name.log" 2>&1; echo "rc=$?" >> "$out/$name.log"; grep -v 'BackendVk\|^Warning' "$out/$name.log" | tail -"${TAIL:-4}"; }
