"""Run every benchmark in turn (``make bench``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MODULES = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))


def main() -> int:
    failed = []
    for module in MODULES:
        print(f"\n=== {module} ===", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{module}"], check=False).returncode != 0:
            failed.append(module)
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
