#!/usr/bin/env bash
# What cgroup limits cost at start: `rless run --rm --network none IMG true`
# with --cgroups=disabled, and with --pids-limit 100 --cpus 1 from inside a
# cgroup v2 subtree delegated to the benchmark user (the container's cgroup
# made, limits written, the init moved in, the cgroup removed at exit),
# side by side with rootless `podman --runtime runc run --rm` given the
# same flags (on cgroup v1/hybrid hosts podman ignores them with a warning).
#
#   sudo bench/cgroups.sh [--runs N] [--bin PATH]
#
# Root only: it delegates `<cgroup2 mount>/rless-bench` to the user
# rlessbench (created if missing), with whatever of pids and cpu the cgroup2
# root already hands on (tests/run.sh with RLESS_TEST_CGROUP2=1 frees them
# on hybrid hosts); it removes that cgroup on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=30
BIN=
while [ $# -gt 0 ]; do
    case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--bin PATH]" >&2; exit 2 ;;
    esac
done
log() { printf 'bench: %s\n' "$*" >&2; }
[ "$(id -u)" -eq 0 ] || { log "run as root (it delegates a cgroup to the benchmark user)"; exit 1; }
command -v hyperfine >/dev/null || { log "hyperfine missing"; exit 1; }
U=rlessbench
id "$U" >/dev/null 2>&1 || useradd -m "$U"
grep -q "^$U:" /etc/subuid || echo "$U:400000:65536" >>/etc/subuid
grep -q "^$U:" /etc/subgid || echo "$U:400000:65536" >>/etc/subgid
UID_=$(id -u "$U")
RUNDIR=/run/user/$UID_
mkdir -p "$RUNDIR" && chown "$U": "$RUNDIR" && chmod 700 "$RUNDIR"

MNT=$(findmnt -rn -t cgroup2 -o TARGET | head -n 1)
[ -n "$MNT" ] || { log "no cgroup2 mount: nothing to measure"; exit 1; }
CTL=$(tr ' ' '\n' <"$MNT/cgroup.subtree_control" | grep -xE 'pids|cpu' | tr '\n' ' ' || true)
case $CTL in *pids*) ;; *) log "the cgroup2 root hands on no pids controller (on hybrid hosts: RLESS_TEST_CGROUP2=1 tests/run.sh frees it)"; exit 1 ;; esac

if [ -z "$BIN" ]; then
    cargo build --release -q
    BIN=target/release/rless
fi
WORK=$(mktemp -d /tmp/rless-cgbench.XXXXXX)
chmod 755 "$WORK"
cp "$BIN" "$WORK/rless"
mkdir -p "$WORK/rootfs/bin"
cp "$(command -v busybox)" "$WORK/rootfs/bin/busybox"
ln -s busybox "$WORK/rootfs/bin/true"
chown -R "$U": "$WORK"
CG=$MNT/rless-bench
mkdir -p "$CG" "$CG/cli"
for c in $CTL; do echo "+$c" >"$CG/cgroup.subtree_control"; done
for d in "$CG" "$CG/cli"; do chown "$U" "$d" "$d/cgroup.procs" "$d/cgroup.subtree_control" "$d/cgroup.threads"; done
PODMAN="podman --runtime runc --root $WORK/podman --runroot $WORK/podman-run --tmpdir $WORK/podman-tmp"
cleanup() {
    runuser -u "$U" -- env XDG_RUNTIME_DIR="$RUNDIR" $PODMAN system reset -f >/dev/null 2>&1 || true
    rm -rf "$WORK"
    find "$CG" -depth -type d -exec rmdir {} + 2>/dev/null || true
}
trap cleanup EXIT
# As the user, from the delegated leaf.
as() {
    sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/cli" \
        runuser -u "$U" -- env HOME="$(getent passwd "$U" | cut -d: -f6)" XDG_RUNTIME_DIR="$RUNDIR" "$@"
}
R="$WORK/rless --root $WORK/store"
as $R import "$WORK/rootfs" bench >/dev/null
LIMITS="--pids-limit 100 --cpus 1"
as $R run --rm --network none $LIMITS bench true
CMDS=(-n "rless --cgroups=disabled" "$R run --rm --network none --cgroups=disabled bench true"
    -n "rless $LIMITS" "$R run --rm --network none $LIMITS bench true")
if tar -C "$WORK/rootfs" -c . | as $PODMAN import - localhost/bench >/dev/null 2>&1 &&
    as $PODMAN run --rm --network none $LIMITS localhost/bench true >/dev/null 2>&1; then
    CMDS+=(-n "podman $LIMITS" "$PODMAN run --rm --network none $LIMITS localhost/bench true")
else
    log "SKIP podman: it could not run a container as $U here"
fi
log "rlessbench in $CG/cli (controllers: $CTL), $RUNS runs each"
as hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$WORK/cg.json" "${CMDS[@]}" >/dev/null 2>&1
python3 - "$WORK/cg.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base = r[0]["median"]
for x in r:
    print("%-40s median %7.2f ms  min %7.2f ms  x%.2f of the first" % (
        x["command"], x["median"] * 1000, x["min"] * 1000, x["median"] / base))
EOF
