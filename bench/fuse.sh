#!/usr/bin/env bash
# Compares kernel overlayfs, fuse-overlayfs and rless-fuse-overlay on one
# lower tree (10,000 small files in 100 directories plus one big file,
# generated once per run): cold and warm sequential read of the big file,
# `find` (cold, right after the mount, and warm), `stat` of every file
# (after the finds, and cold on a fresh mount), copy-up of the big file
# (against cp), and creating 10,000 small files. rless runs three times:
# with its defaults, with `readdirplus=always` (rless-plus) and with
# `spin=off` (rless-nospin, no polling during bursts), and once with
# `writeback` (rless-wb). Also times 20,000 writes of 512 bytes to a new
# file (smallw). Prints medians and ratios; removes everything it made,
# mounts included, on exit.
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
RLESS=$ROOT/target/release/rless-fuse-overlay

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
trap cleanup EXIT INT TERM

cargo build --release -q -p fuse-overlay --manifest-path "$ROOT/Cargo.toml"

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else print a[int((NR+1)/2)]}'; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }

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
    esac
}
umount_fs() {
    umount "$MNT" 2>/dev/null || umount -l "$MNT"
    rm -rf "$(dirname "$MNT")"
}

declare -A R
measure() { # KIND
    local k=$1 t s cold="" warm="" cfind="" find="" stat="" copy="" create="" cstat="" smallw=""
    for _ in $(seq "$REPS"); do
        mount_fs "$k" || { echo "fuse.sh: cannot mount $k, skipped" >&2; return; }
        drop_caches
        t=$(now); cat "$MNT/big" > /dev/null; cold="$cold $(elapsed "$t")"
        t=$(now); cat "$MNT/big" > /dev/null; warm="$warm $(elapsed "$t")"
        t=$(now); find "$MNT" -type f > /dev/null; cfind="$cfind $(elapsed "$t")"
        t=$(now); find "$MNT" -type f > /dev/null; find="$find $(elapsed "$t")"
        t=$(now); find "$MNT" -type f -print0 | xargs -0 stat --format=%i > /dev/null; stat="$stat $(elapsed "$t")"
        t=$(now); echo x >> "$MNT/big"; sync; copy="$copy $(elapsed "$t")"
        mkdir "$MNT/new"
        t=$(now); (cd "$MNT/new" && seq -f "n%g" 1 10000 | xargs touch); create="$create $(elapsed "$t")"
        t=$(now); dd if=/dev/zero of="$MNT/small" bs=512 count=20000 status=none; smallw="$smallw $(elapsed "$t")"
        umount_fs
        mount_fs "$k"
        drop_caches
        t=$(now); find "$MNT" -type f -print0 | xargs -0 stat --format=%i > /dev/null; cstat="$cstat $(elapsed "$t")"
        umount_fs
    done
    R[$k,coldstat]=$(echo "$cstat" | median)
    R[$k,cold]=$(echo "$cold" | median)
    R[$k,warm]=$(echo "$warm" | median)
    R[$k,coldfind]=$(echo "$cfind" | median)
    R[$k,find]=$(echo "$find" | median)
    R[$k,stat]=$(echo "$stat" | median)
    R[$k,copyup]=$(echo "$copy" | median)
    R[$k,create]=$(echo "$create" | median)
    R[$k,smallw]=$(echo "$smallw" | median)
}

cp_time=""
for _ in $(seq "$REPS"); do
    mkdir -p "$BASE/cp"
    drop_caches
    t=$(now); cp "$BASE/lower/big" "$BASE/cp/big"; sync; cp_time="$cp_time $(elapsed "$t")"
    rm -rf "$BASE/cp"
done
CP=$(echo "$cp_time" | median)

for k in kernel fuse-overlayfs rless rless-plus rless-nospin rless-wb; do
    echo "measuring $k ..." >&2
    measure "$k"
done

ratio() { # a b -> a/b
    if [ -z "${1:-}" ] || [ -z "${2:-}" ] || [ "$1" = nan ] || [ "$2" = nan ]; then echo "-"; else echo "scale=2; $1 / $2" | bc -l; fi
}
printf '\nmedian seconds of %s runs; big file %s MiB; cp of the big file: %.3f s\n\n' "$REPS" "$BIG_MB" "$CP"
printf '%-10s %8s %15s %8s %11s %13s %9s %13s %15s\n' op kernel fuse-overlayfs rless rless-plus rless-nospin rless-wb rless/kernel fuse-ovl/rless
for op in cold warm coldfind find stat coldstat copyup create smallw; do
    k=${R[kernel,$op]:-}; f=${R[fuse-overlayfs,$op]:-}; r=${R[rless,$op]:-}; p=${R[rless-plus,$op]:-}; n=${R[rless-nospin,$op]:-}; w=${R[rless-wb,$op]:-}
    printf '%-10s %8s %15s %8s %11s %13s %9s %13s %15s\n' "$op" "${k:--}" "${f:--}" "${r:--}" "${p:--}" "${n:--}" "${w:--}" "$(ratio "$r" "$k")" "$(ratio "$f" "$r")"
done
printf '%-10s %8s %15s %8s %11s %13s %9s\n' "copyup/cp" "$(ratio "${R[kernel,copyup]:-}" "$CP")" "$(ratio "${R[fuse-overlayfs,copyup]:-}" "$CP")" "$(ratio "${R[rless,copyup]:-}" "$CP")" "$(ratio "${R[rless-plus,copyup]:-}" "$CP")" "$(ratio "${R[rless-nospin,copyup]:-}" "$CP")" "$(ratio "${R[rless-wb,copyup]:-}" "$CP")"
echo "read throughput: rless warm/kernel warm = $(ratio "${R[kernel,warm]:-}" "${R[rless,warm]:-}") (>= 0.90 wanted)"
