#!/usr/bin/env bash
# Detached-container costs: time of `run -d` and of `exec CTR true`, and the
# resident memory of an idle detached container's host-side processes, with
# rootless podman (runc) side by side where it is installed.
#
#   sudo bench/lifecycle.sh [--runs N]     # as root: runs as user rlessbench (created if missing)
#   bench/lifecycle.sh [--runs N]          # as a normal user: runs as you
#
# Targets (issue 6): run -d under 30 ms, exec under 10 ms, at most 2.5 MiB
# resident for an idle container with --network none.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=20
[ "${1:-}" = "--runs" ] && RUNS="$2"
log() { printf 'bench: %s\n' "$*" >&2; }

if [ "$(id -u)" -eq 0 ]; then
    for p in hyperfine busybox-static uidmap; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || {
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null 2>&1 || log "cannot install $p"; }
    done
    U=rlessbench
    id "$U" >/dev/null 2>&1 || useradd -m "$U"
    grep -q "^$U:" /etc/subuid || echo "$U:400000:65536" >> /etc/subuid
    grep -q "^$U:" /etc/subgid || echo "$U:400000:65536" >> /etc/subgid
else
    U=$(id -un)
fi
UID_=$(id -u "$U")
RUNDIR=/run/user/$UID_
[ "$(id -u)" -eq 0 ] && { mkdir -p "$RUNDIR"; chown "$U": "$RUNDIR"; chmod 700 "$RUNDIR"; }
command -v hyperfine >/dev/null || { log "hyperfine missing"; exit 1; }

cargo build --release -q
WORK=$(mktemp -d /tmp/rless-lifecycle.XXXXXX)
chmod 755 "$WORK"
cp target/release/rless "$WORK/rless"
mkdir -p "$WORK/rootfs/bin"
cp "$(command -v busybox)" "$WORK/rootfs/bin/busybox"
(cd "$WORK/rootfs/bin" && for a in $(./busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$a"; done)
chown -R "$U": "$WORK"
as() { if [ "$(id -u)" -eq 0 ]; then runuser -u "$U" -- env HOME="$(getent passwd "$U" | cut -d: -f6)" XDG_RUNTIME_DIR="$RUNDIR" "$@"; else "$@"; fi; }
R="$WORK/rless --root $WORK/store"
cleanup() {
    as $R rm -f $(as $R ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    as $R system reset -f >/dev/null 2>&1 || true
    if [ -n "${PODMAN:-}" ]; then as $PODMAN rm -af -t 0 >/dev/null 2>&1 || true; as $PODMAN system reset -f >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
as $R import "$WORK/rootfs" bench >/dev/null

median() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(" ".join("%s=%.2fms" % (x["command"], x["median"]*1000) for x in r))' "$1"; }

log "rless: run -d, exec, idle memory ($RUNS runs)"
as hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$WORK/rd.json" \
    --prepare "sh -c '$WORK/rless --root $WORK/store rm -f benchd >/dev/null 2>&1 || true'" -n "rless run -d" \
    "$WORK/rless --root $WORK/store run -d --network none --name benchd bench sleep 1000" >/dev/null
as $R rm -f benchd >/dev/null
as $R run -d --network none --name idle bench sleep 1000 >/dev/null
as hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$WORK/ex.json" -n "rless exec" "$WORK/rless --root $WORK/store exec idle true" >/dev/null
MON=$(as $R inspect idle | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["State"]["MonitorPid"])')
INIT=$(as $R inspect idle | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["State"]["Pid"])')
# Idle memory: the median of 5 samples a second apart, after the exec runs above.
kib() { for _ in 1 2 3 4 5; do awk -v k="$2" '$1==k":" {print $2}' /proc/"$1"/"$3"; sleep 1; done | sort -n | sed -n 3p; }
RSS=$(kib "$MON" VmRSS status)
PSS=$(kib "$MON" Pss smaps_rollup)
IRSS=$(kib "$INIT" VmRSS status)
echo "rless:  $(median "$WORK/rd.json")  $(median "$WORK/ex.json")  monitor RSS=${RSS} KiB PSS=${PSS} KiB (container init RSS=${IRSS} KiB)"
# The same with the default private network: the monitor also runs netstack.
if as $R run -d --name idlenet -p 127.0.0.1::80 bench sleep 1000 >/dev/null 2>&1; then
    NMON=$(as $R inspect idlenet | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["State"]["MonitorPid"])')
    sleep 1
    echo "rless with netstack (-p): monitor RSS=$(kib "$NMON" VmRSS status) KiB PSS=$(kib "$NMON" Pss smaps_rollup) KiB (target 5 MiB)"
    as $R rm -f idlenet >/dev/null
else
    log "SKIP rless with netstack: run -d with a published port failed"
fi

if command -v podman >/dev/null; then
    PODMAN="podman --runtime runc --root $WORK/podman --runroot $WORK/podman-run --tmpdir $WORK/podman-tmp"
    if tar -C "$WORK/rootfs" -c . | as $PODMAN import - localhost/bench >/dev/null 2>&1 \
        && as $PODMAN run -d --name pidle --network none localhost/bench sleep 1000 >/dev/null 2>&1; then
        as hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$WORK/prd.json" \
            --prepare "sh -c '$PODMAN rm -f -t 0 pbenchd >/dev/null 2>&1 || true'" -n "podman run -d" \
            "$PODMAN run -d --network none --name pbenchd localhost/bench sleep 1000" >/dev/null || true
        as hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$WORK/pex.json" -n "podman exec" "$PODMAN exec pidle true" >/dev/null || true
        CONMON=$(pgrep -u "$U" -f "conmon.*pidle" | head -1 || true)
        CRSS=$( [ -n "$CONMON" ] && kib "$CONMON" VmRSS status || echo "?")
        CPSS=$( [ -n "$CONMON" ] && kib "$CONMON" Pss smaps_rollup || echo "?")
        echo "podman: $(median "$WORK/prd.json" 2>/dev/null)  $(median "$WORK/pex.json" 2>/dev/null)  conmon RSS=${CRSS} KiB PSS=${CPSS} KiB"
    else
        log "SKIP podman: it could not run a container as $U here"
    fi
fi
