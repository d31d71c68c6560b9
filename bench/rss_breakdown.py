#!/usr/bin/env python3
"""Where a process's resident memory is: per mapping (from /proc/PID/smaps) and, inside its main executable, per
Swift module / library the resident code pages belong to (from /proc/PID/pagemap and the binary's symbol table).

    python3 bench/rss_breakdown.py PID            (needs root for pagemap's present bits; /proc/sys/vm/... default)

Used for the resident-memory profile in bench/analysis.md: it tells a statically linked binary's Foundation, ICU,
Yams and standard-library pages apart, which smaps alone cannot.
"""

import bisect
import collections
import os
import re
import struct
import subprocess
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")

# Mangled-name prefixes and C symbol patterns, first match wins.
MODULES = [
    ("FoundationInternationalization", re.compile(r"^\$s31FoundationInternationalization|^_?\$s.*31FoundationInternationalization")),
    ("FoundationEssentials", re.compile(r"^\$s20FoundationEssentials")),
    ("Foundation", re.compile(r"^\$s10Foundation|^_CF|^CF|^__CF|^_NS|^NS")),
    ("ICU", re.compile(r"_\d\d$|^u_|^ucal_|^udat_|^unum_|^icu_|^ures_|^ucol_|^ubrk_|^uloc_|^utrans_|^_ZN6icu_")),
    ("Yams + libyaml", re.compile(r"^\$s4Yams|^yaml_|^\$s5CYaml")),
    ("ArgumentParser", re.compile(r"^\$s14ArgumentParser|^\$s24ArgumentParserToolInfo")),
    ("swift-log / ServiceLifecycle", re.compile(r"^\$s7Logging|^\$s16ServiceLifecycle|^\$s20UnixSignals|^\$s17ConcurrencyHelpers|^\$s8AsyncAlgorithms|^\$s12DequeModule|^\$s18OrderedCollections")),
    ("footprint's own modules", re.compile(r"^\$s(12PowerSources|16EnergyAccounting|13MetricsServer|17FootprintExporter|18footprint_exporter)")),
    ("Swift concurrency / dispatch", re.compile(r"^\$sScT|^\$sScS|^\$sSc|^swift_task|^swift_job|^swift_continuation|^swift_async|^dispatch_|^_dispatch|^\$s8Dispatch")),
    ("Swift standard library + runtime", re.compile(r"^\$s|^swift_|^_swift|^\$S|^_T")),
]


def classify(name):
    for module, pattern in MODULES:
        if pattern.search(name):
            return module
    if name.startswith("_Z"):
        return "other C++ (runtime, libstdc++ parts)"
    return "other C"


def symbols(path):
    """Sorted (address, size, name) of the defined text/data symbols of an ELF file."""
    out = subprocess.run(["nm", "-n", "-S", "--defined-only", path], capture_output=True, text=True).stdout
    table = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            address, size, _, name = parts
            table.append((int(address, 16), int(size, 16), name))
        elif len(parts) == 3:
            address, _, name = parts
            table.append((int(address, 16), 0, name))
    table.sort()
    return table


def sections(path):
    """Sorted (address, size, name) of the allocated ELF sections."""
    out = subprocess.run(["readelf", "-SW", path], capture_output=True, text=True).stdout
    table = []
    for line in out.splitlines():
        match = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", line)
        if match and int(match.group(2), 16):
            table.append((int(match.group(2), 16), int(match.group(3), 16), match.group(1)))
    table.sort()
    return table


def section_of(table, address):
    for start, size, name in table:
        if start <= address < start + size:
            return name
    return "?"


def main():
    pid = int(sys.argv[1])
    exe = os.path.realpath(f"/proc/{pid}/exe")
    mappings = []
    with open(f"/proc/{pid}/maps") as handle:
        for line in handle:
            parts = line.split(None, 5)
            start, end = (int(x, 16) for x in parts[0].split("-"))
            offset = int(parts[2], 16)
            path = parts[5].strip() if len(parts) > 5 else ""
            mappings.append((start, end, parts[1], offset, path))
    per_mapping = collections.Counter()
    current = None
    with open(f"/proc/{pid}/smaps") as handle:
        for line in handle:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split(None, 5)
                current = (parts[5].strip() if len(parts) > 5 else "[anonymous]") or "[anonymous]"
            elif line.startswith("Rss:"):
                per_mapping[current] += int(line.split()[1])
    total = sum(per_mapping.values())
    print(f"resident {total} KiB in all (pid {pid}, {exe})\n\nper mapping (KiB):")
    for name, kib in per_mapping.most_common(15):
        print(f"  {kib:8d}  {name}")

    table = symbols(exe)
    if not table:
        print("\n(no symbols in the executable: stripped)")
        return 0
    addresses = [entry[0] for entry in table]
    section_table = sections(exe)
    # The load bias: the first mapping of the executable has file offset 0 and maps its lowest p_vaddr (0 for PIE).
    base = min(start - offset for start, _, _, offset, path in mappings if path == exe)
    per_module = collections.Counter()
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for start, end, perms, offset, path in mappings:
            if path != exe:
                continue
            pagemap.seek(start // PAGE * 8)
            data = pagemap.read((end - start) // PAGE * 8)
            for index in range(len(data) // 8):
                entry = struct.unpack_from("<Q", data, index * 8)[0]
                if not entry >> 63 & 1:
                    continue
                address = start + index * PAGE - base
                # Attribute the page to the symbols overlapping it, by bytes.
                position = max(bisect.bisect_right(addresses, address) - 1, 0)
                page_end = address + PAGE
                counted = 0
                while position < len(table) and table[position][0] < page_end:
                    sym_start, size, name = table[position]
                    sym_end = sym_start + max(size, 1)
                    overlap = min(sym_end, page_end) - max(sym_start, address)
                    if overlap > 0:
                        per_module[classify(name)] += overlap
                        counted += overlap
                    position += 1
                if counted < PAGE:
                    per_module[f"no symbol: section {section_of(section_table, address)}"] += PAGE - counted
    print(f"\nresident pages of {os.path.basename(exe)}, by the module their symbols belong to (KiB):")
    for module, size in per_module.most_common():
        print(f"  {size / 1024:8.0f}  {module}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
