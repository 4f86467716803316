# Sourced by scripts/test: run noxfile.STREAMS side by side, one nox process per stream.
# Each stream's output goes to the terminal with a [N] prefix and to
# .cache/test-logs/streamN.log; the run fails when any stream fails.

streams_list() {
  # One line per stream, its sessions separated by tabs; fails on a default session in no
  # stream (or a stream naming a session nox would not run by default).
  "$tools/bin/python" - <<'PY'
import json, subprocess, sys
sys.path.insert(0, ".")
import noxfile
listed = json.loads(subprocess.run(["nox", "-l", "--json"], capture_output=True, text=True, check=True).stdout)
default = {s["session"] for s in listed}
streamed = [name for stream in noxfile.STREAMS for name in stream]
if sorted(streamed) != sorted(default):
    sys.exit(f"noxfile.STREAMS {sorted(streamed)} != the default sessions {sorted(default)}")
for stream in noxfile.STREAMS:
    print("\t".join(stream))
PY
}

run_streams() {
  local logs=.cache/test-logs lines i=0 pids=() started=$SECONDS failed=0
  mkdir -p "$logs"
  lines=$(streams_list) || return 1
  while IFS=$'\t' read -r -a sessions; do
    i=$((i + 1))
    echo "== stream $i: ${sessions[*]} (log: $logs/stream$i.log)"
    (
      set -o pipefail
      nox -s "${sessions[@]}" 2>&1 | tee "$logs/stream$i.log" | sed -u "s/^/[$i] /"
    ) &
    pids+=("$!")
  done <<< "$lines"
  trap 'kill "${pids[@]}" 2>/dev/null; exit 143' TERM
  for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then
      echo "== stream $((i + 1)): passed"
    else
      echo "== stream $((i + 1)): FAILED (see $logs/stream$((i + 1)).log)"
      failed=1
    fi
  done
  echo "== sessions:"
  grep -hE "^nox > (Session .* (was successful|failed|skipped)|\\* )" "$logs"/stream*.log || true
  echo "== whole run: $(((SECONDS - started) / 60)) min $(((SECONDS - started) % 60)) s (two streams side by side)"
  return "$failed"
}
