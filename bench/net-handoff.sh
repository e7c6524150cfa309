#!/usr/bin/env bash
# The handoff port driver against raw loopback, interleaved: iperf3 in both
# directions, alternating between a server on plain loopback and the same
# server in a netns-run container behind a handed-off published port, REPS
# times, then medians and ratios. Interleaving keeps slow drifts of this
# shared machine out of the ratio (bench/net.sh runs each tool in a block).
#
# Needs root (network namespaces). Env: DURATION (s, default 4), REPS
# (default 8).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-4}
REPS=${REPS:-8}
EX=$ROOT/target/release/examples
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    # netns-run's own child outlives it when netns-run is killed.
    pkill -f "iperf3 -s -p 5301" 2>/dev/null || true
    rm -f "${NSLOG:-}"
}
trap cleanup EXIT INT TERM
[ "$(id -u)" = 0 ] || { echo "net-handoff.sh: needs root" >&2; exit 1; }
command -v iperf3 >/dev/null || apt-get install -y -qq iperf3 >/dev/null
cargo build --release -q -p netstack --examples --manifest-path "$ROOT/Cargo.toml"

. "$ROOT/bench/iperf-lib.sh"

iperf3 -s -p 5301 >/dev/null 2>&1 &
PIDS+=($!)
NSLOG=$(mktemp /tmp/net-handoff.XXXXXX)
"$EX/netns-run" --port-driver handoff -p 17301:5301 -- iperf3 -s -p 5301 >"$NSLOG" 2>&1 &
PIDS+=($!)
wait_port 5301
wait_port 17301 || { echo "net-handoff.sh: the handoff server did not start:" >&2; cat "$NSLOG" >&2; exit 1; }
RU=() RD=() HU=() HD=()
for _ in $(seq "$REPS"); do
    RU+=("$(gbits 5301)"); HU+=("$(gbits 17301)")
    RD+=("$(gbits 5301 -R)"); HD+=("$(gbits 17301 -R)")
done
m() { printf '%s\n' "$@" | median; }
ru=$(m "${RU[@]}") rd=$(m "${RD[@]}") hu=$(m "${HU[@]}") hd=$(m "${HD[@]}")
echo "machine: $(nproc) cores, $(uname -r); iperf3 ${DURATION}s x ${REPS}, interleaved (median Gbit/s)"
printf '%-18s %10s %10s\n' "" "host->ctr" "ctr->host"
printf '%-18s %10s %10s\n' raw-loopback "$ru" "$rd"
printf '%-18s %10s %10s\n' netstack-handoff "$hu" "$hd"
awk -v a="$hu" -v b="$ru" -v c="$hd" -v d="$rd" \
    'BEGIN{printf "handoff / loopback: host->ctr %.2f, ctr->host %.2f (target >= 0.95)\n", a/b, c/d}'
echo "all runs: raw up ${RU[*]} | handoff up ${HU[*]} | raw down ${RD[*]} | handoff down ${HD[*]}"
