#!/usr/bin/env bash
# Container-to-container throughput (iperf3) and TCP request/response
# latency on a user-defined network, side by side in one run: raw loopback
# (host to host), rless (two containers on `rless network create`), and
# rootless podman (`podman --runtime runc` on `podman network create`),
# where installed. Prints Gbit/s, latency and ratios vs raw loopback.
#
# Run as root: the containers run as the test user ($RLESS_TEST_USER,
# default rlesstest), never as root. Env: DURATION (seconds per iperf3 run,
# default 4), REPS (runs per cell, median reported, default 3), RR
# (requests for latency, default 20000). Cleans up after itself.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-4}
REPS=${REPS:-3}
RR=${RR:-20000}
U=${RLESS_TEST_USER:-rlesstest}
UID_=$(id -u "$U")
WORK=$(mktemp -d /tmp/rless-usernet-bench.XXXXXX)
chmod 755 "$WORK"
mkdir -m 700 "$WORK/store"
chown "$U" "$WORK/store"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
EX=$CARGO_TARGET_DIR/release/examples
RLESS=$WORK/rless
PIDS=()

as_user() {
    su "$U" -s /bin/bash -c "cd $WORK && export XDG_RUNTIME_DIR=/run/user/$UID_ RLESS_ROOT=$WORK/store && $*"
}

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    as_user "$RLESS rm -f ub-srv >/dev/null 2>&1; $RLESS network rm ubench >/dev/null 2>&1" || true
    if command -v podman >/dev/null; then
        as_user "podman --runtime runc rm -f -t 0 ub-srv >/dev/null 2>&1; podman --runtime runc network rm -f ubench >/dev/null 2>&1; podman --runtime runc rmi -f localhost/ubench >/dev/null 2>&1" || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if [ "$(id -u)" != 0 ]; then
    echo "usernet.sh: run as root (containers run as $U)" >&2
    exit 1
fi
command -v iperf3 >/dev/null || { echo "usernet.sh: iperf3 is not installed" >&2; exit 1; }
cargo build --release -q --manifest-path "$ROOT/Cargo.toml" --bin rless
cargo build --release -q -p netstack --examples --manifest-path "$ROOT/Cargo.toml"
install -m 755 "$CARGO_TARGET_DIR/release/rless" "$RLESS"

# An image with busybox, iperf3 and tcp-rr (and their libraries).
R=$WORK/rootfs
mkdir -p "$R"/{bin,etc,tmp,proc,sys,dev}
cp /bin/busybox "$R/bin/"
for a in sh sleep cat; do ln -s busybox "$R/bin/$a"; done
for b in "$(command -v iperf3)" "$EX/tcp-rr"; do
    cp "$b" "$R/bin/"
    for lib in $(ldd "$b" | grep -o '/[^ ]*'); do
        mkdir -p "$R$(dirname "$lib")"
        cp -L "$lib" "$R$lib"
    done
done
chmod -R a+rX "$R"
chown -R "$U" "$R"
as_user "$RLESS import $R ubench >/dev/null && $RLESS network create ubench >/dev/null"

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else print a[int((NR+1)/2)]}'; }
to_gbits() { python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))' 2>/dev/null || echo nan; }

declare -A TP LAT
ORDER=()

# 1. Raw loopback.
iperf3 -s -p 5301 >/dev/null 2>&1 &
PIDS+=($!)
"$EX/tcp-rr" server 5302 &
PIDS+=($!)
sleep 0.5
v=()
for _ in $(seq "$REPS"); do
    v+=("$(timeout $((DURATION + 30)) iperf3 -c 127.0.0.1 -p 5301 -t "$DURATION" -J | to_gbits)")
done
TP[loopback]=$(printf '%s\n' "${v[@]}" | median)
LAT[loopback]=$(timeout 120 "$EX/tcp-rr" client 127.0.0.1:5302 "$RR" || echo "nan nan nan")
ORDER+=(loopback)

# 2. rless: server and client containers on network ubench, by name.
as_user "$RLESS run -d --name ub-srv --network ubench ubench sh -c 'iperf3 -s -p 5201 >/dev/null 2>&1 & tcp-rr server 5202'" >/dev/null
sleep 0.5
v=()
for _ in $(seq "$REPS"); do
    v+=("$(as_user "timeout $((DURATION + 30)) $RLESS run --rm --network ubench ubench iperf3 -c ub-srv -p 5201 -t $DURATION -J" | to_gbits)")
done
TP[rless]=$(printf '%s\n' "${v[@]}" | median)
LAT[rless]=$(as_user "timeout 120 $RLESS run --rm --network ubench ubench tcp-rr client ub-srv:5202 $RR" || echo "nan nan nan")
ORDER+=(rless)

# 3. rootless podman on its own network, same image.
if command -v podman >/dev/null; then
    P="podman --runtime runc"
    tar -C "$R" -cf "$WORK/rootfs.tar" .
    chown "$U" "$WORK/rootfs.tar"
    if as_user "$P import $WORK/rootfs.tar localhost/ubench >/dev/null && $P network create ubench >/dev/null && $P run -d --name ub-srv --network ubench localhost/ubench sh -c 'iperf3 -s -p 5201 >/dev/null 2>&1 & tcp-rr server 5202' >/dev/null"; then
        sleep 1
        v=()
        for _ in $(seq "$REPS"); do
            v+=("$(as_user "timeout $((DURATION + 60)) $P run --rm --network ubench localhost/ubench iperf3 -c ub-srv -p 5201 -t $DURATION -J" | to_gbits)")
        done
        TP[podman]=$(printf '%s\n' "${v[@]}" | median)
        LAT[podman]=$(as_user "timeout 120 $P run --rm --network ubench localhost/ubench tcp-rr client ub-srv:5202 $RR" || echo "nan nan nan")
        ORDER+=(podman)
    else
        echo "usernet.sh: podman could not run here; its row is left out" >&2
    fi
fi

base=${TP[loopback]}
printf '%-10s %10s %8s %10s %10s %10s\n' tool "Gbit/s" ratio "rr p50 us" "p99 us" "mean us"
for t in "${ORDER[@]}"; do
    read -r p50 p99 mean <<<"${LAT[$t]}"
    printf '%-10s %10s %8s %10s %10s %10s\n' "$t" "${TP[$t]}" \
        "$(awk -v a="${TP[$t]}" -v b="$base" 'BEGIN{printf "%.2f", a/b}')" "$p50" "$p99" "$mean"
done
