#!/usr/bin/env bash
# Transfer benchmark: `push`, `save` and `load` of rless vs podman, same image,
# same registry, same user, in one run.
#
# Usage (from the checkout):
#   sudo bench/xfer.sh        # as root: times run as $BENCH_USER (default rlesstest)
#   bench/xfer.sh             # as a normal user: times run as you
#
# What it does:
#   1. makes a one-layer gzip image from up to $BENCH_FILES files of $BENCH_SRC
#      (default 5000 files of /usr/share) with `rless import`, and saves it as a
#      docker-archive, which podman loads too: both tools start from the same
#      image;
#   2. per run ($BENCH_RUNS, default 3), for each tool: a fresh store loaded
#      from that archive (timed: `load`), `save -o` (timed), and `push` to a
#      repository new to the registry (timed; a fresh store, and for podman a
#      fresh HOME, has no record of other repositories, so neither tool can
#      mount blobs instead of sending them); both gzip the layer (loaded
#      uncompressed, as docker-archives hold it) before sending it;
#   3. prints the medians and the ratios rless/podman.
# The registry is $BENCH_REGISTRY, else $RLESS_TEST_REGISTRY, else
# 127.0.0.1:5000 (tests/run.sh starts one). podman runs rootless with the vfs
# driver in its own --root (podman --runtime runc, as everywhere here).
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_FILES=${BENCH_FILES:-5000}
BENCH_SRC=${BENCH_SRC:-/usr/share}
REGISTRY=${BENCH_REGISTRY:-${RLESS_TEST_REGISTRY:-127.0.0.1:5000}}
log() { printf 'bench: %s\n' "$*" >&2; }

curl -fs -o /dev/null "http://$REGISTRY/v2/" || { log "no registry at $REGISTRY"; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rless-xfer.XXXXXX")
chmod 0755 "$WORK"
if [ "$(id -u)" -eq 0 ]; then BENCH_USER=${BENCH_USER:-rlesstest}; else BENCH_USER=$(id -un); fi
BENCH_HOME=$(getent passwd "$BENCH_USER" | cut -d: -f6)
RUNTIME_DIR=/run/user/$(id -u "$BENCH_USER")
[ "$(id -u)" -ne 0 ] && RUNTIME_DIR=${XDG_RUNTIME_DIR:-$RUNTIME_DIR}
chown "$BENCH_USER:" "$WORK"

as_user() {
    if [ "$(id -u)" -eq 0 ] && [ "$BENCH_USER" != root ]; then
        (cd "$WORK" && runuser -u "$BENCH_USER" -- env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
            HOME="$BENCH_HOME" USER="$BENCH_USER" XDG_RUNTIME_DIR="$RUNTIME_DIR" "$@")
    else
        (cd "$WORK" && "$@")
    fi
}
rl() { local store=$1; shift; as_user "$WORK/rless" --root "$WORK/$store" "$@"; }
# A HOME per store too: podman keeps its blob-info cache there, and would
# mount blobs pushed by an earlier run instead of sending them.
pm() { local store=$1; shift; as_user mkdir -p "$WORK/$store/home"; as_user env HOME="$WORK/$store/home" podman --runtime runc \
    --storage-driver vfs --root "$WORK/$store/root" --runroot "$WORK/$store/run" "$@"; }
cleanup() {
    set +e
    for d in "$WORK"/r-*; do [ -d "$d" ] && rl "${d##*/}" system reset -f >/dev/null 2>&1; done
    for d in "$WORK"/p-*; do [ -d "$d" ] && pm "${d##*/}" system reset -f >/dev/null 2>&1; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# time_it VAR CMD...: appends the wall time of CMD to array VAR.
time_it() {
    local -n acc=$1; shift
    local t0 t1
    t0=$(now); "$@" >/dev/null; t1=$(now)
    acc+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')")
}

log "building the release binary"
cargo build --release --quiet --bin rless
install -m 0755 target/release/rless "$WORK/rless"

log "making the image from $BENCH_FILES files of $BENCH_SRC"
# (find is cut off by head: no pipefail here)
(set +o pipefail; cd / && find "${BENCH_SRC#/}" -type f -size -2M 2>/dev/null | head -n "$BENCH_FILES" \
    | tar -cf - -T - 2>/dev/null | gzip -1 >"$WORK/rootfs.tar.gz")
chown "$BENCH_USER:" "$WORK/rootfs.tar.gz"
IMG=bench/xfer:latest
rl r-src import "$WORK/rootfs.tar.gz" "$IMG" >/dev/null
rl r-src save -o "$WORK/image.tar" "$IMG"
log "image: $(du -h "$WORK/rootfs.tar.gz" | cut -f1) compressed, archive $(du -h "$WORK/image.tar" | cut -f1)"

HAVE_PODMAN=0
if command -v podman >/dev/null && pm p-probe load -q -i "$WORK/image.tar" >/dev/null 2>"$WORK/podman.err"; then
    HAVE_PODMAN=1
else
    log "podman not usable here: $(tail -n1 "$WORK/podman.err" 2>/dev/null || echo not installed)"
fi

R_LOAD=(); R_SAVE=(); R_PUSH=(); P_LOAD=(); P_SAVE=(); P_PUSH=()
for i in $(seq 1 "$BENCH_RUNS"); do
    tag=$$-$i-$RANDOM
    sync
    time_it R_LOAD rl "r-$i" load -q -i "$WORK/image.tar"
    time_it R_SAVE rl "r-$i" save -o "$WORK/r-$i.tar" "$IMG"
    time_it R_PUSH rl "r-$i" push -q "$IMG" "$REGISTRY/bench/xfer-rless-$tag:latest"
    if [ "$HAVE_PODMAN" = 1 ]; then
        sync
        time_it P_LOAD pm "p-$i" load -q -i "$WORK/image.tar"
        time_it P_SAVE pm "p-$i" save -q -o "$WORK/p-$i.tar" "$IMG"
        time_it P_PUSH pm "p-$i" push -q --tls-verify=false "$IMG" \
            "$REGISTRY/bench/xfer-podman-$tag:latest"
    fi
    rm -f "$WORK/r-$i.tar" "$WORK/p-$i.tar"
    log "run $i: rless load/save/push ${R_LOAD[-1]}/${R_SAVE[-1]}/${R_PUSH[-1]}s" \
        "${P_PUSH:+podman ${P_LOAD[-1]}/${P_SAVE[-1]}/${P_PUSH[-1]}s}"
done

echo "image: up to $BENCH_FILES files of $BENCH_SRC, one gzip layer; registry $REGISTRY; median of $BENCH_RUNS"
for op in LOAD SAVE PUSH; do
    r=R_$op; p=P_$op
    rm_=$(eval median "\${$r[@]}")
    line="$(echo "$op" | tr A-Z a-z): rless ${rm_}s"
    if [ "$HAVE_PODMAN" = 1 ]; then
        pd=$(eval median "\${$p[@]}")
        line="$line  podman ${pd}s  ratio rless/podman $(awk -v r="$rm_" -v p="$pd" 'BEGIN {printf "%.2f", r / p}')"
    fi
    echo "$line"
done
