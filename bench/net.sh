#!/usr/bin/env bash
# Throughput (iperf3) and TCP request/response latency through a published
# port, side by side in one run: raw loopback, netstack (this repo, via the
# netns-run example) with its default smoltcp port driver, with
# --port-driver splice and with --port-driver handoff, slirp4netns with its own port forwarder (API
# add_hostfwd) and pasta (passt), each where installed. Prints Gbit/s,
# latency and ratios vs raw loopback. Cleans up after itself and stops by
# itself (every client runs under `timeout`).
#
# Needs root (network namespaces). Env: DURATION (seconds per iperf3 run,
# default 4), REPS (runs per cell, median reported, default 3), RR (request
# count for latency, default 20000).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-4}
REPS=${REPS:-3}
RR=${RR:-20000}
EX=$ROOT/target/release/examples
WORK=$(mktemp -d /tmp/rless-net-bench.XXXXXX)
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if [ "$(id -u)" != 0 ]; then
    echo "net.sh: needs root (network namespaces)" >&2
    exit 1
fi
command -v iperf3 >/dev/null || apt-get install -y -qq iperf3 >/dev/null
cargo build --release -q -p netstack --examples --manifest-path "$ROOT/Cargo.toml"

. "$ROOT/bench/iperf-lib.sh"

# The servers each environment runs: iperf3 on 5201 and tcp-rr on 5202;
# the environment ends when the latency client disconnects.
SERVERS="iperf3 -s -p 5201 >/dev/null 2>&1 & P=\$!; $EX/tcp-rr server 5202; kill \$P"

# measure NAME IPERF_PORT RR_PORT: fills RESULTS.
declare -A UP DOWN LAT
measure() {
    local name=$1 ip=$2 rp=$3 up=() down=()
    sleep 1
    for _ in $(seq "$REPS"); do
        up+=("$(gbits "$ip")")
        down+=("$(gbits "$ip" -R)")
    done
    UP[$name]=$(printf '%s\n' "${up[@]}" | median)
    DOWN[$name]=$(printf '%s\n' "${down[@]}" | median)
    LAT[$name]=$(timeout 120 "$EX/tcp-rr" client "127.0.0.1:$rp" "$RR" 2>/dev/null || echo "nan nan nan")
}
ORDER=()

# 1. Raw loopback.
bash -c "$SERVERS" &
PIDS+=($!)
wait_port 5201
measure raw-loopback 5201 5202
ORDER+=(raw-loopback)

# 2. netstack.
"$EX/netns-run" -p 15201:5201 -p 15202:5202 -- sh -c "$SERVERS" 2>"$WORK/netstack.log" &
PIDS+=($!)
measure netstack 15201 15202
ORDER+=(netstack)

# 2b. netstack, splice port driver.
"$EX/netns-run" --port-driver splice -p 16201:5201 -p 16202:5202 -- sh -c "$SERVERS" \
    2>"$WORK/netstack-splice.log" &
PIDS+=($!)
measure netstack-splice 16201 16202
ORDER+=(netstack-splice)

# 2c. netstack, handoff port driver (the servers get the host sockets).
"$EX/netns-run" --port-driver handoff -p 17201:5201 -p 17202:5202 -- sh -c "$SERVERS" \
    2>"$WORK/netstack-handoff.log" &
PIDS+=($!)
measure netstack-handoff 17201 17202
ORDER+=(netstack-handoff)

# 3. slirp4netns with its own port forwarder.
if command -v slirp4netns >/dev/null; then
    unshare --net --fork --kill-child sh -c "ip link set lo up; $SERVERS" &
    NSPID=$!
    PIDS+=($NSPID)
    sleep 0.3
    slirp4netns --configure --mtu=65520 --api-socket "$WORK/slirp.sock" "$NSPID" tap0 \
        >"$WORK/slirp.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do [ -S "$WORK/slirp.sock" ] && break; sleep 0.1; done
    for p in 5201 5202; do
        python3 - "$WORK/slirp.sock" "$p" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
port = int(sys.argv[2])
s.sendall(json.dumps({"execute": "add_hostfwd", "arguments": {
    "proto": "tcp", "host_addr": "127.0.0.1", "host_port": 20000 + port,
    "guest_port": port}}).encode())
print(s.recv(4096).decode(), file=sys.stderr)
PY
    done 2>>"$WORK/slirp.log"
    measure slirp4netns 25201 25202
    ORDER+=(slirp4netns)
fi

# 4. pasta.
if command -v pasta >/dev/null; then
    # As root pasta would switch to nobody and fail; keep root.
    pasta --runas 0 --config-net -t 35201:5201 -t 35202:5202 -- sh -c "$SERVERS" >"$WORK/pasta.log" 2>&1 &
    PIDS+=($!)
    measure pasta 35201 35202
    ORDER+=(pasta)
fi

echo
echo "machine: $(nproc) cores, $(uname -r); iperf3 ${DURATION}s x ${REPS} (median), RR ${RR} one-byte round trips"
printf '%-17s %12s %8s %12s %8s %10s %10s %10s\n' tool "host->ctr" ratio "ctr->host" ratio "rr p50 us" "p99 us" "mean us"
base_up=${UP[raw-loopback]}
base_down=${DOWN[raw-loopback]}
for t in "${ORDER[@]}"; do
    read -r p50 p99 mean <<<"${LAT[$t]}"
    printf '%-17s %12s %8s %12s %8s %10s %10s %10s\n' "$t" "${UP[$t]}" \
        "$(awk -v a="${UP[$t]}" -v b="$base_up" 'BEGIN{printf "%.2f", a/b}')" \
        "${DOWN[$t]}" \
        "$(awk -v a="${DOWN[$t]}" -v b="$base_down" 'BEGIN{printf "%.2f", a/b}')" \
        "$p50" "$p99" "$mean"
done
if [ -n "${UP[slirp4netns]:-}" ]; then
    echo
    awk -v a="${UP[netstack]}" -v b="${UP[slirp4netns]}" -v c="${DOWN[netstack]}" -v d="${DOWN[slirp4netns]}" \
        'BEGIN{printf "netstack / slirp4netns: host->ctr %.2fx, ctr->host %.2fx (target >= 2x)\n", a/b, c/d}'
fi
if [ -n "${UP[pasta]:-}" ]; then
    awk -v a="${UP[netstack-splice]}" -v b="${UP[pasta]}" -v c="${DOWN[netstack-splice]}" -v d="${DOWN[pasta]}" \
        'BEGIN{printf "netstack-splice / pasta: host->ctr %.2fx, ctr->host %.2fx (target > 1)\n", a/b, c/d}'
    awk -v a="${UP[netstack-handoff]}" -v b="${UP[pasta]}" -v c="${DOWN[netstack-handoff]}" -v d="${DOWN[pasta]}" \
        'BEGIN{printf "netstack-handoff / pasta: host->ctr %.2fx, ctr->host %.2fx (target > 1)\n", a/b, c/d}'
fi
