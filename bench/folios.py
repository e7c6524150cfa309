#!/usr/bin/env python3
"""Page-cache folio sizes of a file: how many of its first pages are cached
as single 4 KiB pages and how many belong to large folios (head + tail
pages). Explains warm-read differences between filesystems: copying from
many small pages costs more than from few large ones.

Usage (root: /proc/kpageflags needs CAP_SYS_ADMIN): folios.py FILE [MIB]
Read the file once first (cat FILE > /dev/null), so its pages are cached;
this maps it and touches each page, then reads each page's flags.
"""
import mmap
import os
import struct
import sys

KPF_COMPOUND_HEAD = 1 << 15
KPF_COMPOUND_TAIL = 1 << 16
PAGE = os.sysconf("SC_PAGE_SIZE")


def main():
    path = sys.argv[1]
    mib = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    size = min(os.path.getsize(path), mib << 20)
    pages = size // PAGE
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), pages * PAGE, prot=mmap.PROT_READ)
        for i in range(pages):
            mm[i * PAGE]
        # The mapping is the newest one of this file in our maps.
        real = os.path.realpath(path)
        start = None
        with open("/proc/self/maps") as maps:
            for line in maps:
                if line.rstrip().endswith(real):
                    start = int(line.split("-")[0], 16)
        if start is None:
            sys.exit(f"folios.py: {path}: mapping not found")
        counts = {"head": 0, "tail": 0, "single": 0, "absent": 0}
        with open("/proc/self/pagemap", "rb") as pm, open("/proc/kpageflags", "rb") as kf:
            for i in range(pages):
                pm.seek((start // PAGE + i) * 8)
                entry = struct.unpack("Q", pm.read(8))[0]
                pfn = entry & ((1 << 55) - 1)
                if not entry >> 63 or pfn == 0:
                    counts["absent"] += 1
                    continue
                kf.seek(pfn * 8)
                flags = struct.unpack("Q", kf.read(8))[0]
                if flags & KPF_COMPOUND_HEAD:
                    counts["head"] += 1
                elif flags & KPF_COMPOUND_TAIL:
                    counts["tail"] += 1
                else:
                    counts["single"] += 1
        mm.close()
    folios = counts["head"] + counts["single"]
    print(f"{path}: {pages} pages in {folios} folios "
          f"(large: {counts['head']} heads + {counts['tail']} tails; "
          f"single pages: {counts['single']}; not mapped: {counts['absent']})")


if __name__ == "__main__":
    main()
