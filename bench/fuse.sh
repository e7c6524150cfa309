#!/usr/bin/env bash
# Compares kernel overlayfs, fuse-overlayfs and rless-fuse-overlay on one
# lower tree (10,000 small files in 100 directories plus one big file,
# generated once per run): cold and warm sequential read of the big file
# (warm: the first re-read; warm2: the one after, once the kernel has moved
# the pages to its active list, which costs FUSE's 4 KiB folios a lot more
# than a local filesystem's large ones), `find` (cold, right after the
# mount, and warm), `stat` of every file (after the names-only finds; cold
# on a fresh mount; stat2: that stat walk once more), copy-up of the big file
# (against cp), and creating 10,000 small files. rless runs three times:
# with its defaults, with `readdirplus=always` (rless-plus) and with
# `spin=off` (rless-nospin, no polling during bursts), and once with
# `writeback` (rless-wb), and with `kernel_4_18` (rless-418: asking the
# kernel only for what RHEL 8's 4.18 offers: no directory or symlink cache,
# OPENDIR round trips, 128 KiB requests; a rough look at that code path on
# this kernel, not a 4.18 measurement). Also times 20,000 writes of 512 bytes to a new
# file (smallw), and 10,000 stats of names that do not exist (miss).
# Repetitions are interleaved across the tools. Prints
# medians and ratios; removes everything it made, mounts included, on exit.
#
# Needs root (or CAP_SYS_ADMIN) for mounting and for dropping caches.
# Env: BENCH_DIR (default /var/tmp/rless-fuse-bench; not tmpfs, so reads
# are real), BIG_MB (default 1024), REPS (default 3).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=${BENCH_DIR:-/var/tmp/rless-fuse-bench}
BIG_MB=${BIG_MB:-1024}
REPS=${REPS:-3}
FOVL=${FUSE_OVERLAYFS:-/usr/bin/fuse-overlayfs}
RLESS=${CARGO_TARGET_DIR:-$ROOT/target}/release/rless-fuse-overlay

if [ -e "$BASE" ]; then
    echo "fuse.sh: $BASE exists; remove it or set BENCH_DIR" >&2
    exit 1
fi

cleanup() {
    for m in "$BASE"/run*/mnt; do
        [ -d "$m" ] && mountpoint -q "$m" && umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$BASE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cargo build --release -q -p fuse-overlay --manifest-path "$ROOT/Cargo.toml"

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else print a[int((NR+1)/2)]}'; }
# Cold rows are only cold when this works: refuse to run without it.
drop_caches() {
    sync
    echo 3 2>/dev/null > /proc/sys/vm/drop_caches ||
        { echo "fuse.sh: cannot drop the page cache (needs root): cold rows would be warm" >&2; exit 1; }
}

echo "generating lower tree in $BASE/lower ..." >&2
mkdir -p "$BASE/lower"
for d in $(seq 0 99); do
    mkdir "$BASE/lower/d$d"
    (cd "$BASE/lower/d$d" && seq -f "f%g" 0 99 | xargs -n 100 sh -c 'for f; do echo "$f" > "$f"; done' _)
done
dd if=/dev/urandom of="$BASE/lower/big" bs=1M count="$BIG_MB" status=none
sync

RUN=0
# mount_fs KIND: makes a fresh upper/work/mnt under $BASE/runN, sets $MNT.
mount_fs() {
    RUN=$((RUN + 1))
    local r=$BASE/run$RUN
    mkdir -p "$r/upper" "$r/work" "$r/mnt"
    MNT=$r/mnt
    local o="lowerdir=$BASE/lower,upperdir=$r/upper,workdir=$r/work"
    case $1 in
        kernel) mount -t overlay overlay -o "$o" "$MNT" ;;
        fuse-overlayfs) "$FOVL" -o "$o" "$MNT" ;;
        rless) "$RLESS" -o "$o" "$MNT" ;;
        rless-plus) "$RLESS" -o "$o,readdirplus=always" "$MNT" ;;
        rless-nospin) "$RLESS" -o "$o,spin=off" "$MNT" ;;
        rless-wb) "$RLESS" -o "$o,writeback" "$MNT" ;;
        rless-418) "$RLESS" -o "$o,kernel_4_18" "$MNT" ;;
    esac
}
umount_fs() {
    umount "$MNT" 2>/dev/null || umount -l "$MNT"
    rm -rf "$(dirname "$MNT")"
}

declare -A R S SKIP FOLIOS
OPS="cold warm warm2 coldfind find stat coldstat stat2 copyup create smallw miss"
KINDS="kernel fuse-overlayfs rless rless-plus rless-nospin rless-wb rless-418"
add() { S[$1,$2]="${S[$1,$2]:-} $3"; } # KIND OP SECONDS

# One repetition of every operation on KIND, appended to its samples.
measure_once() { # KIND
    local k=$1 t
    mount_fs "$k" || { echo "fuse.sh: cannot mount $k, skipped" >&2; SKIP[$k]=1; return; }
    drop_caches
    t=$(now); cat "$MNT/big" > /dev/null; add "$k" cold "$(elapsed "$t")"
    t=$(now); cat "$MNT/big" > /dev/null; add "$k" warm "$(elapsed "$t")"
    t=$(now); cat "$MNT/big" > /dev/null; add "$k" warm2 "$(elapsed "$t")"
    # Once per kind: the page sizes the warm reads copied from (see
    # docs/design.md, "Warm reads"). Not timed.
    if [ -z "${FOLIOS[$k]:-}" ]; then
        FOLIOS[$k]=$(python3 "$ROOT/bench/folios.py" "$MNT/big" 16 2>&1 | sed "s|^$MNT/big|$k|")
    fi
    t=$(now); find "$MNT" -type f > /dev/null; add "$k" coldfind "$(elapsed "$t")"
    t=$(now); find "$MNT" -type f > /dev/null; add "$k" find "$(elapsed "$t")"
    t=$(now); find "$MNT" -type f -print0 | xargs -0 stat --format=%i > /dev/null; add "$k" stat "$(elapsed "$t")"
    t=$(now); echo x >> "$MNT/big"; sync; add "$k" copyup "$(elapsed "$t")"
    mkdir "$MNT/new"
    t=$(now); (cd "$MNT/new" && seq -f "n%g" 1 10000 | xargs touch); add "$k" create "$(elapsed "$t")"
    t=$(now); dd if=/dev/zero of="$MNT/small" bs=512 count=20000 status=none; add "$k" smallw "$(elapsed "$t")"
    umount_fs
    mount_fs "$k"
    drop_caches
    t=$(now); find "$MNT" -type f -print0 | xargs -0 stat --format=%i > /dev/null; add "$k" coldstat "$(elapsed "$t")"
    t=$(now); find "$MNT" -type f -print0 | xargs -0 stat --format=%i > /dev/null; add "$k" stat2 "$(elapsed "$t")"
    add "$k" miss "$(missing "$MNT/d1")"
    umount_fs
}

# Seconds for 10,000 stats of 20 names that do not exist (500 rounds), as
# Python's imports, PATH searches and the dynamic linker probe; timed inside
# one process so that start-up does not count.
missing() { # DIR
    python3 - "$1" <<'PY'
import os, sys, time
names = [os.path.join(sys.argv[1], f"missing{i}.py") for i in range(20)]
t = time.perf_counter()
for _ in range(500):
    for n in names:
        try:
            os.stat(n)
        except FileNotFoundError:
            pass
print(f"{time.perf_counter() - t:.6f}")
PY
}

# Repetitions are interleaved (every tool once, then again), so that the
# drift of a VM over the run lands on all columns alike.
cp_time=""
for rep in $(seq "$REPS"); do
    mkdir -p "$BASE/cp"
    drop_caches
    t=$(now); cp "$BASE/lower/big" "$BASE/cp/big"; sync; cp_time="$cp_time $(elapsed "$t")"
    rm -rf "$BASE/cp"
    for k in $KINDS; do
        [ -n "${SKIP[$k]:-}" ] && continue
        echo "rep $rep/$REPS: $k ..." >&2
        measure_once "$k"
    done
done
CP=$(echo "$cp_time" | median)
for k in $KINDS; do
    [ -n "${SKIP[$k]:-}" ] && continue
    for op in $OPS; do
        R[$k,$op]=$(echo "${S[$k,$op]:-}" | median)
    done
done

ratio() { # a b -> a/b
    if [ -z "${1:-}" ] || [ -z "${2:-}" ] || [ "$1" = nan ] || [ "$2" = nan ]; then echo "-"; else echo "scale=2; $1 / $2" | bc -l; fi
}
printf '\nmedian seconds of %s runs; big file %s MiB; cp of the big file: %.3f s\n\n' "$REPS" "$BIG_MB" "$CP"
printf '%-10s %8s %15s %8s %11s %13s %9s %10s %13s %15s %11s\n' op kernel fuse-overlayfs rless rless-plus rless-nospin rless-wb rless-418 rless/kernel fuse-ovl/rless 418/kernel
for op in $OPS; do
    k=${R[kernel,$op]:-}; f=${R[fuse-overlayfs,$op]:-}; r=${R[rless,$op]:-}; p=${R[rless-plus,$op]:-}; n=${R[rless-nospin,$op]:-}; w=${R[rless-wb,$op]:-}; o=${R[rless-418,$op]:-}
    printf '%-10s %8s %15s %8s %11s %13s %9s %10s %13s %15s %11s\n' "$op" "${k:--}" "${f:--}" "${r:--}" "${p:--}" "${n:--}" "${w:--}" "${o:--}" "$(ratio "$r" "$k")" "$(ratio "$f" "$r")" "$(ratio "$o" "$k")"
done
printf '%-10s %8s %15s %8s %11s %13s %9s %10s\n' "copyup/cp" "$(ratio "${R[kernel,copyup]:-}" "$CP")" "$(ratio "${R[fuse-overlayfs,copyup]:-}" "$CP")" "$(ratio "${R[rless,copyup]:-}" "$CP")" "$(ratio "${R[rless-plus,copyup]:-}" "$CP")" "$(ratio "${R[rless-nospin,copyup]:-}" "$CP")" "$(ratio "${R[rless-wb,copyup]:-}" "$CP")" "$(ratio "${R[rless-418,copyup]:-}" "$CP")"
for k in $KINDS; do
    if [ -n "${FOLIOS[$k]:-}" ]; then echo "page cache: ${FOLIOS[$k]}"; fi
done
echo "read throughput: rless warm/kernel warm = $(ratio "${R[kernel,warm]:-}" "${R[rless,warm]:-}") (>= 0.90 wanted); warm2: $(ratio "${R[kernel,warm2]:-}" "${R[rless,warm2]:-}")"
