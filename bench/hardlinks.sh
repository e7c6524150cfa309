#!/usr/bin/env bash
# Copy-up of lower hard links: `chmod -R` over 300 files that each have a
# second name elsewhere, in a lower layer of 50,000 other files, on kernel
# overlayfs, fuse-overlayfs (where installed) and rless-fuse-overlay, from
# a cold cache. rless-fuse-overlay links the second names to the copies
# (kernel overlayfs mounted without an index breaks the links instead),
# which needs to know where they are: one walk of the layer, at the first
# such copy-up. Prints medians and ratios; removes what it made on exit.
#
# Needs root (mounting, dropping caches). Env: BENCH_DIR (default
# /var/tmp/rless-hardlink-bench), REPS (default 5).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=${BENCH_DIR:-/var/tmp/rless-hardlink-bench}
REPS=${REPS:-5}
FOVL=${FUSE_OVERLAYFS:-/usr/bin/fuse-overlayfs}
RLESS=${CARGO_TARGET_DIR:-$ROOT/target}/release/rless-fuse-overlay

if [ -e "$BASE" ]; then
    echo "hardlinks.sh: $BASE exists; remove it or set BENCH_DIR" >&2
    exit 1
fi
[ -x "$RLESS" ] || { echo "hardlinks.sh: build first: cargo build --release --workspace" >&2; exit 1; }
MNT=
cleanup() {
    if [ -n "$MNT" ] && mountpoint -q "$MNT"; then umount -l "$MNT" 2>/dev/null || true; fi
    rm -rf "$BASE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else print a[int((NR+1)/2)]}'; }
ratio() { if [ -z "${1:-}" ] || [ -z "${2:-}" ]; then echo "-"; else echo "scale=2; $1 / $2" | bc -l; fi; }

echo "generating the lower layer in $BASE/lower ..." >&2
mkdir -p "$BASE/lower/links/a" "$BASE/lower/links/b"
for d in $(seq 0 99); do
    mkdir "$BASE/lower/d$d"
    (cd "$BASE/lower/d$d" && seq -f "f%g" 1 500 | xargs touch)
done
for i in $(seq 1 300); do
    echo x > "$BASE/lower/links/a/h$i"
    ln "$BASE/lower/links/a/h$i" "$BASE/lower/links/b/h$i"
done

KINDS="kernel rless"
[ -x "$FOVL" ] && KINDS="kernel fuse-overlayfs rless"
declare -A S LINKED
for rep in $(seq 1 "$REPS"); do
    for k in $KINDS; do
        r=$BASE/run-$k-$rep
        mkdir -p "$r/upper" "$r/work" "$r/mnt"
        MNT=$r/mnt
        o="lowerdir=$BASE/lower,upperdir=$r/upper,workdir=$r/work"
        case $k in
            kernel) mount -t overlay overlay -o "$o" "$MNT" ;;
            fuse-overlayfs) "$FOVL" -o "$o" "$MNT" ;;
            rless) "$RLESS" -o "$o" "$MNT" ;;
        esac
        sync
        echo 3 > /proc/sys/vm/drop_caches
        t=$(now)
        chmod -R g+w "$MNT/links/a"
        S[$k]="${S[$k]:-} $(echo "$(now) - $t" | bc -l)"
        # Whether the second name shares the copy on disk.
        LINKED[$k]=$(stat -c %h "$r/upper/links/a/h7" 2>/dev/null || echo -)
        umount "$MNT" 2>/dev/null || umount -l "$MNT"
        MNT=
        rm -rf "$r"
    done
done

printf '\nchmod -R of 300 hard-linked lower files, median seconds of %s runs\n' "$REPS"
printf '%-16s %9s %14s %16s\n' kind seconds "x kernel" "links on disk"
K=$(echo "${S[kernel]}" | median)
for k in $KINDS; do
    m=$(echo "${S[$k]}" | median)
    printf '%-16s %9.3f %14s %16s\n' "$k" "$m" "$(ratio "$m" "$K")" "${LINKED[$k]}"
done
