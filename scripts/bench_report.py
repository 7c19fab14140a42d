#!/usr/bin/env python3
"""Prints criterion results of one group as ratios against its baseline.

    python3 scripts/bench_report.py <criterion dir> <group> <baseline bench>

Reads <criterion dir>/<group>/<bench>/new/estimates.json (median, ns).
"""
import json
import sys
from pathlib import Path


def median_ns(path: Path) -> float:
    return json.loads((path / "new" / "estimates.json").read_text())["median"]["point_estimate"]


def main() -> int:
    root, group, baseline = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    group_dir = root / group
    base = median_ns(group_dir / baseline)
    print(f"| {group} | median | × {baseline} |")
    print("| --- | ---: | ---: |")
    for bench in sorted(p for p in group_dir.iterdir() if (p / "new" / "estimates.json").exists()):
        value = median_ns(bench)
        shown = f"{value / 1000:,.2f} µs" if value >= 1000 else f"{value:,.1f} ns"
        print(f"| {bench.name} | {shown} | {value / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
