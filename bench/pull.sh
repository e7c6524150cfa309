#!/usr/bin/env bash
# Pull benchmark: rless vs podman on a many-file image from a local registry.
#
# Usage (from the checkout, ideally after `sudo tests/run.sh` created the users):
#   sudo bench/pull.sh            # as root: times run as $BENCH_USER (default rlesstest)
#   bench/pull.sh                 # as a normal user: times run as you
#
# What it does:
#   1. starts a throw-away docker-registry on 127.0.0.1:$BENCH_PORT (default 5005),
#      unless BENCH_REGISTRY=host:port points at one already running;
#   2. builds an image of ~$BENCH_FILES files / ~$BENCH_BYTES bytes copied from
#      host dirs ($BENCH_SRC, default /usr/lib:/usr/share:/usr/bin), split into
#      4 gzip layers, and pushes it (tests/bench_push.rs, release build);
#   3. times `rless pull` into a fresh store, $BENCH_RUNS times (default 3);
#   4. if podman is installed, times `podman pull --tls-verify=false` of the same
#      image after `podman rmi`, rootless as the same user, falling back to
#      root podman when rootless podman does not work (the output says which);
#   5. prints the median wall times and the ratio rless/podman.
#
# Needs: cargo, docker-registry, curl; podman optional.
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOUT=$PWD

BENCH_PORT=${BENCH_PORT:-5005}
BENCH_RUNS=${BENCH_RUNS:-3}
export BENCH_FILES=${BENCH_FILES:-10000}
export BENCH_BYTES=${BENCH_BYTES:-209715200}
export BENCH_SRC=${BENCH_SRC:-/usr/lib:/usr/share:/usr/bin}

log() { printf 'bench: %s\n' "$*" >&2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rless-bench.XXXXXX")
chmod 0755 "$WORK"
REG_PID=
cleanup() {
    set +e
    if [ -n "$REG_PID" ]; then
        kill "$REG_PID" 2>/dev/null
        wait "$REG_PID" 2>/dev/null
    fi
    if [ -n "${UDIR:-}" ] && [ -x "$WORK/rless" ]; then
        run_user "$WORK/rless" --root "$UDIR/rless-store" system reset -f >/dev/null 2>&1 || true
    fi
    if [ -n "${PODMAN_MODE:-}" ]; then
        podman_cmd system reset -f >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK" 2>/dev/null
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- who runs the pulls
if [ "$(id -u)" -eq 0 ]; then
    BENCH_USER=${BENCH_USER:-rlesstest}
    id -u "$BENCH_USER" >/dev/null 2>&1 || {
        log "user $BENCH_USER missing (run sudo tests/run.sh once, or set BENCH_USER)"
        exit 1
    }
else
    BENCH_USER=$(id -un)
fi
RUN_AS=$BENCH_USER
BENCH_UID=$(id -u "$BENCH_USER")
BENCH_HOME=$(getent passwd "$BENCH_USER" | cut -d: -f6)
RUNTIME_DIR=/run/user/$BENCH_UID
[ "$(id -u)" -ne 0 ] && RUNTIME_DIR=${XDG_RUNTIME_DIR:-$RUNTIME_DIR}
# stores live in a dir the bench user owns
UDIR=$WORK/u
mkdir -p "$UDIR"
chown "$BENCH_USER:" "$UDIR"

run_user() {
    if [ "$(id -u)" -eq 0 ] && [ "$BENCH_USER" != root ]; then
        (cd "$WORK" && runuser -u "$BENCH_USER" -- env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
            HOME="$BENCH_HOME" USER="$BENCH_USER" LOGNAME="$BENCH_USER" XDG_RUNTIME_DIR="$RUNTIME_DIR" "$@")
    else
        (cd "$WORK" && "$@")
    fi
}

now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# ---------------------------------------------------------------- registry
if [ -n "${BENCH_REGISTRY:-}" ]; then
    REGISTRY=$BENCH_REGISTRY
else
    REGISTRY=127.0.0.1:$BENCH_PORT
    bin=$(command -v docker-registry || echo /usr/bin/docker-registry)
    [ -x "$bin" ] || { log "docker-registry not installed"; exit 1; }
    mkdir -p "$WORK/registry"
    cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: $REGISTRY
health:
  storagedriver:
    enabled: false
EOF
    "$bin" serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 </dev/null &
    REG_PID=$!
    for _ in $(seq 1 100); do
        curl -fs -o /dev/null "http://$REGISTRY/v2/" && break
        sleep 0.1
    done
    curl -fs -o /dev/null "http://$REGISTRY/v2/" || { cat "$WORK/registry.log" >&2; exit 1; }
fi
REF=$REGISTRY/bench/many-files:latest

# ---------------------------------------------------------------- build + push
log "building release binaries"
cargo build --release --quiet --bin rless
install -m 0755 "$CHECKOUT/target/release/rless" "$WORK/rless"
log "building and pushing $REF (this takes a while)"
BENCH_REF=$REF cargo test --release --quiet --test bench_push -- --ignored --nocapture \
    bench_push_many_files 2>&1 | grep -E '^(bench image|pushed|BENCH_ID)' >&2

# ---------------------------------------------------------------- rless
RLESS_TIMES=()
for i in $(seq 1 "$BENCH_RUNS"); do
    run_user "$WORK/rless" --root "$UDIR/rless-store" system reset -f >/dev/null 2>&1 || true
    run_user rm -rf "$UDIR/rless-store" 2>/dev/null || true
    sync
    t0=$(now)
    run_user "$WORK/rless" --root "$UDIR/rless-store" pull -q "$REF" >/dev/null
    t1=$(now)
    t=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
    log "rless pull run $i: ${t}s"
    RLESS_TIMES+=("$t")
done
RLESS_MED=$(median "${RLESS_TIMES[@]}")

# ---------------------------------------------------------------- podman
PODMAN_MED=
PODMAN_MODE=
podman_cmd() {
    local store=(--root "$UDIR/podman-root" --runroot "$UDIR/podman-run")
    if [ "$PODMAN_MODE" = rootless ]; then
        run_user podman "${store[@]}" "$@"
    else
        (cd "$WORK" && podman "${store[@]}" "$@")
    fi
}
if command -v podman >/dev/null 2>&1; then
    PODMAN_MODE=rootless
    [ "$(id -u)" -eq 0 ] && [ "$BENCH_USER" = root ] && PODMAN_MODE=root
    if ! podman_cmd pull -q --tls-verify=false "$REF" >/dev/null 2>"$WORK/podman.err"; then
        if [ "$(id -u)" -eq 0 ] && [ "$PODMAN_MODE" = rootless ]; then
            log "rootless podman failed ($(tail -n1 "$WORK/podman.err")); using root podman"
            podman_cmd system reset -f >/dev/null 2>&1 || true
            PODMAN_MODE=root
        else
            log "podman pull failed: $(tail -n1 "$WORK/podman.err")"
            PODMAN_MODE=
        fi
    fi
    if [ -n "$PODMAN_MODE" ]; then
        PODMAN_TIMES=()
        for i in $(seq 1 "$BENCH_RUNS"); do
            podman_cmd rmi -f "$REF" >/dev/null 2>&1 || true
            sync
            t0=$(now)
            podman_cmd pull -q --tls-verify=false "$REF" >/dev/null
            t1=$(now)
            t=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
            log "podman pull ($PODMAN_MODE) run $i: ${t}s"
            PODMAN_TIMES+=("$t")
        done
        PODMAN_MED=$(median "${PODMAN_TIMES[@]}")
    fi
else
    log "podman not installed: no comparison"
fi

# ---------------------------------------------------------------- report
echo "image:  $REF ($BENCH_FILES files max, $((BENCH_BYTES >> 20)) MB max, 4 gzip layers)"
echo "rless pull  (as $BENCH_USER, median of $BENCH_RUNS): ${RLESS_MED}s"
if [ -n "$PODMAN_MED" ]; then
    who=$BENCH_USER
    [ "$PODMAN_MODE" = root ] && who=root
    echo "podman pull ($PODMAN_MODE as $who, median of $BENCH_RUNS): ${PODMAN_MED}s"
    awk -v r="$RLESS_MED" -v p="$PODMAN_MED" 'BEGIN {printf "ratio rless/podman: %.2f\n", r / p}'
fi
