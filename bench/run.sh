#!/usr/bin/env bash
# Start-up benchmark: median wall time of `rless run --rm IMAGE true`, side by
# side with Charliecloud's ch-run on the same rootfs directory and rootless
# `podman --runtime runc run --rm`, plus a per-phase breakdown of rless from
# RLESS_TRACE=1.
#
# Usage (from anywhere; the checkout is the parent of this script's folder):
#   sudo bench/run.sh [--runs N] [--trace-runs M] [--solo] [--strict]
#   bench/run.sh ...              # as a normal user: everything runs as you
#
#   --runs N        hyperfine runs per tool (default 30, at least 20 advised)
#   --trace-runs M  RLESS_TRACE=1 runs for the phase table (default 10)
#   --solo          also time rless in single-id mode, as user rlessbenchsolo
#                   (created without any subuid/subgid range; root only)
#   --strict        exit 1 when a target is missed (rless median < 15 ms,
#                   podman/rless >= 20)
#   --bin PATH      time this rless binary instead of building the checkout
#
# As root it installs what is missing (hyperfine busybox-static uidmap podman
# runc fuse-overlayfs slirp4netns charliecloud-runtime python3) with apt-get,
# creates user rlessbench with a subuid/subgid range, a home and
# /run/user/<uid>, and runs every timed command as that user. A tool that is
# missing or fails on this machine is skipped with the reason printed.
# Everything it makes lives in one temp dir that is removed on exit, with
# podman's storage and the pause process it started.
set -euo pipefail

RUNS=30
TRACE_RUNS=10
SOLO=0
STRICT=0
BIN=
while [ $# -gt 0 ]; do
    case $1 in
        --runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
        --runs=*) RUNS=${1#*=}; shift ;;
        --trace-runs) TRACE_RUNS=${2:?--trace-runs needs a number}; shift 2 ;;
        --trace-runs=*) TRACE_RUNS=${1#*=}; shift ;;
        --solo) SOLO=1; shift ;;
        --strict) STRICT=1; shift ;;
        --bin) BIN=${2:?--bin needs a path}; shift 2 ;;
        --bin=*) BIN=${1#*=}; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case $RUNS in ''|*[!0-9]*) echo "bench/run.sh: --runs needs a number" >&2; exit 2 ;; esac
case $TRACE_RUNS in ''|*[!0-9]*) echo "bench/run.sh: --trace-runs needs a number" >&2; exit 2 ;; esac
[ "$RUNS" -ge 2 ] || { echo "bench/run.sh: --runs must be at least 2" >&2; exit 2; }

REPO=$(cd "$(dirname "$0")/.." && pwd)
IMAGE=bench-busybox
PODMAN_IMAGE=localhost/bench-busybox
ME=$(id -u)

log() { printf 'bench: %s\n' "$*" >&2; }
skip() { printf 'bench: SKIP %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------ packages
# Package name for each command we use; the benchmark anchors are optional.
need_pkg() { # cmd pkg
    command -v "$1" >/dev/null 2>&1 && return 0
    MISSING_PKGS+=("$2")
}
static_busybox() {
    local b
    b=$(command -v busybox 2>/dev/null) || return 1
    ! LC_ALL=C ldd "$b" >/dev/null 2>&1
}
MISSING_PKGS=()
need_pkg hyperfine hyperfine
need_pkg python3 python3
need_pkg newuidmap uidmap
need_pkg podman podman
need_pkg runc runc
need_pkg fuse-overlayfs fuse-overlayfs
need_pkg slirp4netns slirp4netns
need_pkg ch-run charliecloud-runtime
static_busybox || MISSING_PKGS+=(busybox-static)
if [ ${#MISSING_PKGS[@]} -gt 0 ]; then
    if [ "$ME" -eq 0 ] && command -v apt-get >/dev/null; then
        log "installing ${MISSING_PKGS[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null 2>&1 || log "apt-get update failed"
        # One by one, so a package this release lacks costs only its anchor.
        for p in "${MISSING_PKGS[@]}"; do
            apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 \
                || log "could not install $p"
        done
    else
        log "missing packages ${MISSING_PKGS[*]} (run as root to install them)"
    fi
fi
command -v hyperfine >/dev/null || die "hyperfine is needed (apt-get install hyperfine)"
command -v python3 >/dev/null || die "python3 is needed"
static_busybox || die "a static busybox is needed for the image (apt-get install busybox-static)"
BUSYBOX=$(command -v busybox)

# ------------------------------------------------------------------ users
# A range start for USER's subordinate ids: 300000 unless another entry of
# /etc/subuid or /etc/subgid overlaps it, then the next free 65536 block.
free_range() {
    awk -F: -v start=300000 -v n=65536 '
        NF >= 3 { s[++k] = $2 + 0; e[k] = $2 + $3 }
        END {
            do {
                moved = 0
                for (i = 1; i <= k; i++)
                    if (start < e[i] && s[i] < start + n) { start += n; moved = 1 }
            } while (moved)
            print start
        }' /etc/subuid /etc/subgid
}
has_range() { # user file
    local uid
    uid=$(id -u "$1")
    grep -qE "^($1|$uid):[0-9]+:[1-9]" "$2" 2>/dev/null
}
ensure_user() { # user
    id -u "$1" >/dev/null 2>&1 && return 0
    log "creating user $1"
    useradd -m -s /bin/sh "$1"
}
ensure_runtime_dir() { # user
    local uid
    uid=$(id -u "$1")
    mkdir -p "/run/user/$uid"
    chown "$1:$(id -g "$1")" "/run/user/$uid"
    chmod 0700 "/run/user/$uid"
}

if [ "$ME" -eq 0 ]; then
    BENCH_USER=rlessbench
    ensure_user "$BENCH_USER"
    for f in /etc/subuid /etc/subgid; do
        touch "$f"
        if ! has_range "$BENCH_USER" "$f"; then
            start=$(free_range)
            [ "$start" = 300000 ] || log "300000:65536 overlaps another range; using $start:65536"
            echo "$BENCH_USER:$start:65536" >>"$f"
        fi
    done
    ensure_runtime_dir "$BENCH_USER"
    if [ "$SOLO" = 1 ]; then
        SOLO_USER=rlessbenchsolo
        ensure_user "$SOLO_USER"
        # useradd may have given it a range; single-id mode means none.
        solo_uid=$(id -u "$SOLO_USER")
        sed -i -E "/^($SOLO_USER|$solo_uid):/d" /etc/subuid /etc/subgid
        ensure_runtime_dir "$SOLO_USER"
    fi
else
    BENCH_USER=$(id -un)
    if [ "$SOLO" = 1 ]; then
        skip "--solo: creating the single-id user needs root"
        SOLO=0
    fi
fi

home_of() { getent passwd "$1" | cut -d: -f6; }
rundir_of() {
    if [ "$ME" -ne 0 ]; then
        echo "${XDG_RUNTIME_DIR:-/run/user/$ME}"
    else
        echo "/run/user/$(id -u "$1")"
    fi
}
# as USER -- command...: a clean environment, cwd the work dir.
as() {
    local u=$1
    shift 2
    if [ "$ME" -eq 0 ]; then
        (cd "$WORK" && runuser -u "$u" -- env -i \
            PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
            HOME="$(home_of "$u")" USER="$u" LOGNAME="$u" LANG=C.UTF-8 \
            XDG_RUNTIME_DIR="$(rundir_of "$u")" "$@")
    else
        (cd "$WORK" && env -u RLESS_TRACE -u RLESS_ROOT -u RLESS_LOG "$@")
    fi
}

# ------------------------------------------------------------------ work dir, cleanup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rless-bench-run.XXXXXX")
chmod 0755 "$WORK"
PODMAN_OK=0
PODMAN=()
PAUSE_BEFORE=
RUNDIR_BEFORE=
cleanup() {
    set +e
    local u
    for u in "$BENCH_USER" ${SOLO_USER:+"$SOLO_USER"}; do
        if [ -x "$WORK/rless" ] && [ -d "$WORK/$u/store" ]; then
            as "$u" -- timeout 60 "$WORK/rless" --root "$WORK/$u/store" system reset -f >/dev/null 2>&1
        fi
    done
    if [ ${#PODMAN[@]} -gt 0 ]; then
        local rd pid pids
        rd=$(rundir_of "$BENCH_USER")
        pids=$(cat "$WORK/$BENCH_USER/podman/tmp/pause.pid" "$rd/libpod/tmp/pause.pid" 2>/dev/null)
        as "$BENCH_USER" -- timeout 60 "${PODMAN[@]}" system reset -f >/dev/null 2>&1
        # Only the pause process this run started, known by its pid.
        for pid in $pids; do
            if [ "$pid" != "$PAUSE_BEFORE" ] && kill -0 "$pid" 2>/dev/null; then
                kill "$pid" 2>/dev/null
                for _ in $(seq 20); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
            fi
        done
        # podman's state in the runtime dir, where this run created it.
        for d in libpod containers runc netns; do
            case " $RUNDIR_BEFORE " in *" $d "*) ;; *) rm -rf "${rd:?}/$d" 2>/dev/null ;; esac
        done
    fi
    rm -rf "$WORK" 2>/dev/null
    if [ -e "$WORK" ]; then
        # Leftovers owned by subordinate ids need the user's namespace.
        as "$BENCH_USER" -- podman unshare rm -rf "$WORK/$BENCH_USER" >/dev/null 2>&1
        rm -rf "$WORK" 2>/dev/null || log "could not remove $WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ build
if [ -n "$BIN" ]; then
    [ -x "$BIN" ] || die "--bin $BIN is not an executable"
    cp "$BIN" "$WORK/rless"
else
    log "building rless (cargo build --release)"
    CARGO=$(command -v cargo || echo "$HOME/.cargo/bin/cargo")
    [ -x "$CARGO" ] || die "cargo not found"
    if ! (cd "$REPO" && "$CARGO" build --release --quiet --bin rless) >"$WORK/build.log" 2>&1; then
        tail -n 30 "$WORK/build.log" >&2
        die "cargo build --release failed"
    fi
    TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
    case $TARGET_DIR in /*) ;; *) TARGET_DIR=$REPO/$TARGET_DIR ;; esac
    cp "$TARGET_DIR/release/rless" "$WORK/rless"
fi
chmod 0755 "$WORK/rless"
RLESS=$WORK/rless

# ------------------------------------------------------------------ image
# A busybox root: bin/busybox, every applet as a symlink beside it, and the
# mount points and /etc files that ch-run binds over.
make_rootfs() { # dir
    local d=$1 a
    mkdir -p "$d"/{bin,dev,proc,sys,tmp,etc,home,root,run,var,usr/bin,mnt}
    cp "$BUSYBOX" "$d/bin/busybox"
    for a in $("$BUSYBOX" --list) sh true; do
        [ -e "$d/bin/$a" ] || ln -s busybox "$d/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$d/etc/passwd"
    printf 'root:x:0:\n' >"$d/etc/group"
    : >"$d/etc/hosts"
    : >"$d/etc/resolv.conf"
    chmod 1777 "$d/tmp"
    chmod -R a+rX "$d"
}
prepare_user() { # user: its own work dir, rootfs copy and imported rless store
    local u=$1
    mkdir -p "$WORK/$u"
    make_rootfs "$WORK/$u/rootfs"
    if [ "$ME" -eq 0 ]; then
        chown -R "$u:$(id -g "$u")" "$WORK/$u"
    fi
    chmod 0755 "$WORK/$u"
    as "$u" -- "$RLESS" --root "$WORK/$u/store" import "$WORK/$u/rootfs" "$IMAGE" >/dev/null
}
prepare_user "$BENCH_USER"
[ "$SOLO" = 1 ] && prepare_user "$SOLO_USER"
ROOTFS=$WORK/$BENCH_USER/rootfs
STORE=$WORK/$BENCH_USER/store

# ------------------------------------------------------------------ header
echo "== machine"
echo "kernel: $(uname -srm)"
echo "nproc:  $(nproc)"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
[ -n "$cpu" ] && echo "cpu:    $cpu"
echo "user:   $BENCH_USER (uid $(id -u "$BENCH_USER"))"
if [ -n "$BIN" ]; then
    echo "rless:  $BIN"
else
    if rev=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null); then
        (cd "$REPO" && git diff --quiet HEAD 2>/dev/null) || rev="$rev (+ uncommitted changes)"
    else
        rev="$REPO (not a git checkout)"
    fi
    echo "rless:  $rev"
fi
echo
echo "== rless info"
as "$BENCH_USER" -- "$RLESS" --root "$STORE" info | sed 's/^/  /'
if [ "$SOLO" = 1 ]; then
    echo "== rless info ($SOLO_USER)"
    as "$SOLO_USER" -- "$RLESS" --root "$WORK/$SOLO_USER/store" info | grep -i 'id mapping' | sed 's/^/  /'
fi
echo

# ------------------------------------------------------------------ which tools work
# try NAME command...: one run as the bench user; on failure print why.
try() {
    local name=$1 out
    shift
    if out=$(as "$BENCH_USER" -- timeout 60 "$@" 2>&1); then
        return 0
    fi
    skip "$name: \`$*\` failed:"
    printf '%s\n' "$out" | tail -n 8 | sed 's/^/    /' >&2
    return 1
}

NAMES=()
CMDS=()
RLESS_CMD="$RLESS --root $STORE run --rm $IMAGE true"
if ! try rless $RLESS_CMD; then
    die "rless cannot run the image; see above"
fi
NAMES+=(rless); CMDS+=("$RLESS_CMD")

if command -v ch-run >/dev/null; then
    CH_CMD="$(command -v ch-run) $ROOTFS -- /bin/true"
    if try ch-run $CH_CMD; then NAMES+=(ch-run); CMDS+=("$CH_CMD"); fi
else
    skip "ch-run: not installed (package charliecloud-runtime)"
fi

podman_setup() {
    local rd
    command -v podman >/dev/null || { skip "podman: not installed"; return 1; }
    command -v runc >/dev/null || { skip "podman: runc not installed"; return 1; }
    rd=$(rundir_of "$BENCH_USER")
    PAUSE_BEFORE=$(cat "$rd/libpod/tmp/pause.pid" 2>/dev/null || true)
    RUNDIR_BEFORE=$(ls -A "$rd" 2>/dev/null | tr '\n' ' ' || true)
    # Its own storage in the work dir, so the user's images are untouched and
    # cleanup is one `system reset`.
    local base=(podman --root "$WORK/$BENCH_USER/podman/root"
        --runroot "$WORK/$BENCH_USER/podman/run" --tmpdir "$WORK/$BENCH_USER/podman/tmp"
        --storage-driver overlay)
    local attempt out
    for attempt in native migrate fuse; do
        case $attempt in
            native) PODMAN=("${base[@]}") ;;
            migrate)
                # Only for the user made for this: it stops all its containers.
                [ "$ME" -eq 0 ] || continue
                as "$BENCH_USER" -- timeout 60 "${PODMAN[@]}" system migrate >/dev/null 2>&1 || true ;;
            fuse)
                command -v fuse-overlayfs >/dev/null || break
                as "$BENCH_USER" -- timeout 60 "${PODMAN[@]}" system reset -f >/dev/null 2>&1 || true
                PODMAN=("${base[@]}" --storage-opt "overlay.mount_program=$(command -v fuse-overlayfs)") ;;
        esac
        if out=$(tar -C "$ROOTFS" --owner=0 --group=0 --numeric-owner -c . \
            | as "$BENCH_USER" -- timeout 120 "${PODMAN[@]}" import - "$PODMAN_IMAGE" 2>&1); then
            [ $attempt = native ] || log "podman: works after $attempt"
            return 0
        fi
    done
    skip "podman: \`podman import\` failed:"
    printf '%s\n' "$out" | tail -n 8 | sed 's/^/    /' >&2
    return 1
}
if podman_setup; then
    POD_CMD="${PODMAN[*]} --runtime runc run --rm $PODMAN_IMAGE /bin/true"
    if try podman $POD_CMD; then NAMES+=(podman); CMDS+=("$POD_CMD"); PODMAN_OK=1; fi
fi

# ------------------------------------------------------------------ timing
# `podman run --rm` returns before conmon's `podman container cleanup` is done,
# and a fresh build leaves the disk busy; let both end before timing more.
settle() {
    local i
    sync
    for i in $(seq 100); do
        pgrep -u "$BENCH_USER" -x 'podman|conmon' >/dev/null 2>&1 || return 0
        sleep 0.2
    done
    log "podman processes still running after 20 s; timing anyway"
}
HF_ARGS=(-N --warmup 3 --runs "$RUNS" --style basic)
run_hyperfine() { # user json name cmd [name cmd]...
    local u=$1 json=$2
    shift 2
    local args=()
    while [ $# -gt 0 ]; do args+=(-n "$1" "$2"); shift 2; done
    touch "$json"
    if [ "$ME" -eq 0 ]; then chown "$u" "$json"; fi
    as "$u" -- timeout -k 10 1800 hyperfine "${HF_ARGS[@]}" --export-json "$json" "${args[@]}"
}

# Phases first, on a quiet machine.
settle
TRACE_LOG=$WORK/trace.log
: >"$TRACE_LOG"
if [ "$TRACE_RUNS" -gt 0 ]; then
    # One python as the bench user runs them, timing each run's wall too.
    as "$BENCH_USER" -- env RLESS_TRACE=1 timeout 300 python3 -c '
import subprocess, sys, time
for _ in range(int(sys.argv[1])):
    t = time.perf_counter()
    p = subprocess.run(sys.argv[2:], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    wall = (time.perf_counter() - t) * 1e3
    for line in p.stderr.decode(errors="replace").splitlines():
        if line.startswith("rless-trace:"):
            print(line)
    print(f"wall {wall:.3f} exit {p.returncode}")
    print("--")
' "$TRACE_RUNS" $RLESS_CMD >"$TRACE_LOG" 2>&1 || log "trace runs failed: $(tail -n 3 "$TRACE_LOG")"
fi

JSONS=()
if [ "$SOLO" = 1 ]; then
    SOLO_CMD="$RLESS --root $WORK/$SOLO_USER/store run --rm $IMAGE true"
    echo "== hyperfine: rless single-id as $SOLO_USER"
    if out=$(as "$SOLO_USER" -- timeout 60 $SOLO_CMD 2>&1); then
        run_hyperfine "$SOLO_USER" "$WORK/times-solo.json" "rless single-id" "$SOLO_CMD" >&2 \
            && JSONS+=("$WORK/times-solo.json")
    else
        skip "rless single-id: \`$SOLO_CMD\` failed:"
        printf '%s\n' "$out" | tail -n 8 | sed 's/^/    /' >&2
    fi
fi

# The side-by-side run; podman goes last so its background clean-up
# overlaps none of the others.
settle
echo "== hyperfine: ${NAMES[*]} ($RUNS runs each, 3 warm-up)"
pairs=()
for i in "${!NAMES[@]}"; do pairs+=("${NAMES[$i]}" "${CMDS[$i]}"); done
run_hyperfine "$BENCH_USER" "$WORK/times.json" "${pairs[@]}" >&2 \
    || die "hyperfine failed (the commands ran once each before, so this is flaky)"
JSONS=("$WORK/times.json" "${JSONS[@]}")
settle

# ------------------------------------------------------------------ report
echo
python3 - "$RUNS" "$STRICT" "$TRACE_LOG" "${JSONS[@]}" <<'EOF'
import json, re, statistics, sys

runs, strict, trace_log, jsons = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3], sys.argv[4:]
rows = []
for path in jsons:
    for r in json.load(open(path))["results"]:
        t = [x * 1e3 for x in r["times"]]
        rows.append((r["command"], statistics.median(t), min(t), max(t),
                     statistics.stdev(t) if len(t) > 1 else 0.0, len(t)))
base = next((r[1] for r in rows if r[0] == "rless"), None)

print("== start-up time, `run --rm IMAGE true` (wall, ms)")
print(f"{'tool':<18}{'median':>9}{'min':>9}{'max':>9}{'stddev':>9}{'runs':>6}   vs rless")
for name, med, lo, hi, sd, n in rows:
    ratio = f"{med / base:.2f}x" if base else "-"
    print(f"{name:<18}{med:>9.2f}{lo:>9.2f}{hi:>9.2f}{sd:>9.2f}{n:>6}   {ratio}")
by = {r[0]: r[1] for r in rows}
print()
for other in ("podman", "ch-run", "rless single-id"):
    if other in by and base:
        print(f"{other}/rless: {by[other] / base:.2f}")
    elif other != "rless single-id":
        print(f"{other}/rless: - ({other} skipped)")

# Trace: each run is a block of `rless-trace: +T ms [pid] phase` lines. A
# phase that shows up twice in a run is numbered so runs line up.
blocks, walls, cur, wall = [], [], [], None
for line in open(trace_log):
    line = line.strip()
    if line == "--":
        if cur:
            blocks.append(cur)
            walls.append(wall)
        cur, wall = [], None
        continue
    m = re.match(r"rless-trace: \+([0-9.]+)ms \[(\d+)\] (.*)", line)
    if m:
        cur.append((float(m.group(1)), m.group(2), m.group(3)))
    m = re.match(r"wall ([0-9.]+) exit (-?\d+)", line)
    if m and m.group(2) == "0":
        wall = float(m.group(1))
if cur:
    blocks.append(cur)
    walls.append(wall)
print()
if not blocks:
    print("== rless phases: no rless-trace lines (RLESS_TRACE=1 printed nothing)")
else:
    stamps, deltas = {}, {}
    for b in blocks:
        pids, seen, prev = {}, {}, 0.0
        for t, pid, phase in sorted(b):
            who = pids.setdefault(pid, "parent" if not pids else f"child{len(pids)}")
            seen[phase] = seen.get(phase, 0) + 1
            key = (phase if seen[phase] == 1 else f"{phase} #{seen[phase]}", who)
            stamps.setdefault(key, []).append(t)
            deltas.setdefault(key, []).append(t - prev)
            prev = t
    keys = sorted(stamps, key=lambda k: statistics.median(stamps[k]))
    print(f"== rless phases, median of {len(blocks)} RLESS_TRACE=1 runs (ms since process start)")
    print(f"{'phase':<34}{'process':<9}{'at':>9}{'step':>9}{'seen':>6}")
    for k in keys:
        print(f"{k[0]:<34}{k[1]:<9}{statistics.median(stamps[k]):>9.3f}"
              f"{statistics.median(deltas[k]):>9.3f}{len(stamps[k]):>6}")
    timed = [(w, b) for w, b in zip(walls, blocks) if w is not None]
    if timed:
        # Per run: wall minus the last mark, then the median of that.
        rest = [w - max(t for t, _, _ in b) for w, b in timed]
        print(f"{'wall of these runs':<34}{'':<9}{statistics.median(w for w, _ in timed):>9.3f}"
              f"{statistics.median(rest):>9.3f}{len(timed):>6}")
    print("(at = median time stamp; step = median time since the previous mark in\n"
          " the same run; the wall row's step is what the marks do not cover: spawn,\n"
          " exec and loading of rless before main, and exit after the last mark)")

print()
ok = True
if base is not None:
    hit = base < 15.0
    ok &= hit
    print(f"target rless median < 15 ms: {'met' if hit else 'MISSED'} ({base:.2f} ms)")
    if "podman" in by:
        hit = by["podman"] / base >= 20.0
        ok &= hit
        print(f"target podman/rless >= 20: {'met' if hit else 'MISSED'} ({by['podman'] / base:.1f})")
    else:
        print("target podman/rless >= 20: not measured (podman skipped)")
sys.exit(1 if strict and not ok else 0)
EOF
