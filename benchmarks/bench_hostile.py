"""Hostile incident files: how long `validate` takes and how much memory it holds on each.

Each file is checked by the real CLI in a fresh process (`python -m syncer validate FILE`);
reported per file: the exit code, the median CPU time (steadier than wall time on a busy
machine) and the peak resident memory of the process, both also as multiples of the same
figures for the bundled Korean example (a normal file: the goal is that no hostile file costs
more than a few times a normal one). `--tree` runs the code of another checkout (e.g. one from
before the limits) on the same files, each run cut off after `--timeout` seconds.

Run: .venv/bin/python benchmarks/bench_hostile.py [--repeat 3] [--tree PATH] [--timeout 120]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_hostile_files import HEAD, alias_bomb  # noqa: E402

BANNER = ROOT / "examples" / "incidents" / "INC-2024-0212-banner.yaml"


def files(folder: Path) -> dict[str, Path]:
    """The normal example, then the files that once cost seconds, gigabytes or a traceback."""
    texts = {
        "alias bomb, 6 levels (YAML)": alias_bomb(6),
        "alias bomb, 9 levels (YAML)": alias_bomb(9),
        "nested 100,000 deep (YAML)": HEAD + "links: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "nested 100,000 deep (JSON)": '{"id": "I", "links": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "4.9 MB field (YAML)": HEAD + "cause: " + "x" * 4_900_000 + "\n",
        "50 MB field (YAML)": HEAD + "cause: " + "x" * 50_000_000 + "\n",
    }
    out = {"normal: the Korean example": BANNER}
    for name, text in texts.items():
        suffix = ".json" if "JSON" in name else ".yaml"
        path = folder / (name.split(" (")[0].replace(" ", "-").replace(",", "") + suffix)
        path.write_text(text, encoding="utf-8")
        out[name] = path
    return out


def run(path: Path, tree: Path, timeout: float) -> tuple[int, float, float]:
    """Exit code, CPU seconds and peak resident memory (MB) of one `validate` process."""
    # VmHWM, not ru_maxrss: Linux carries the forking parent's peak over to ru_maxrss.
    script = (
        "import runpy, sys\n"
        "sys.argv = ['incident-syncer', 'validate', sys.argv[1]]\n"
        "try:\n"
        "    runpy.run_module('syncer', run_name='__main__')\n"
        "finally:\n"
        "    status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "    print(f'PEAK {int(status) / 1024:.1f}', file=sys.stderr)\n"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", script, str(path)],
            capture_output=True,
            text=True,
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)},
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return -1, timeout, float("nan")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    peaks = [float(x.split()[1]) for x in proc.stderr.splitlines() if x.startswith("PEAK ")]
    return proc.returncode, cpu, peaks[0] if peaks else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout whose code runs")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per run at most")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for name, path in files(Path(tmp)).items():
            runs = [run(path, args.tree, args.timeout) for _ in range(args.repeat)]
            code = runs[0][0]
            cpu = statistics.median(r[1] for r in runs)
            peak = statistics.median(r[2] for r in runs)
            rows.append((name, code, cpu, peak))
    _, _, base_cpu, base_peak = rows[0]
    print("| file | exit | CPU (s) | × normal | peak memory (MB) | × normal |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, code, cpu, peak in rows:
        if code == -1:
            print(f"| {name} | cut off | > {cpu:.0f} | > {cpu / base_cpu:.0f} | | |")
            continue
        print(
            f"| {name} | {code} | {cpu:.2f} | {cpu / base_cpu:.2f} | {peak:.0f} | "
            f"{peak / base_peak:.2f} |"
        )


if __name__ == "__main__":
    main()
