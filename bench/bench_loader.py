"""The optimized-bytecode loader of aws_bindings.py, measured alone.

`ecs-autoscale synth --no-cache` of 1 and of 10 model files, with the loader (the bindings compiled as
`python -O` compiles them, so their duplicate type checks are skipped) and without it
(ECS_AUTOSCALE_OPTIMIZED_BYTECODE=0; the lazy package and the lazy Node index stay on in both).
Fresh processes, interleaved, after one untimed warm-up round; medians.

    python bench/bench_loader.py --repeat 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("ecs-autoscale"))
SEED = REPO / "examples" / "megadetector.yaml"


def models(folder: Path, count: int) -> list[str]:
    text = SEED.read_text()
    files = []
    for i in range(count):
        lines = [f"StackName: LoaderBench{i}" if ln.startswith("StackName:") else ln for ln in text.splitlines()]
        path = folder / f"model{i}.yaml"
        path.write_text("\n".join(lines) + "\n")
        files.append(str(path))
    return files


def run(files: list[str], optimized: bool, out: Path) -> float:
    env = {**os.environ, "ECS_AUTOSCALE_OPTIMIZED_BYTECODE": "1" if optimized else "0"}
    started = time.perf_counter()
    subprocess.run([CLI, "synth", *files, "--no-cache", "--out", str(out)], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cases = {(n, opt): [] for n in (1, 10) for opt in (True, False)}
        sets = {1: models(work / "one", 1) if (work / "one").mkdir() is None else [], 10: []}
        (work / "ten").mkdir()
        sets[10] = models(work / "ten", 10)
        order = list(cases)
        for round_ in range(args.repeat + 1):
            for i, (n, opt) in enumerate(order[round_ % len(order) :] + order[: round_ % len(order)]):
                wall = run(sets[n], opt, work / f"out-{round_}-{i}")
                if round_:
                    cases[(n, opt)].append(wall)
        for n in (1, 10):
            on, off = statistics.median(cases[(n, True)]), statistics.median(cases[(n, False)])
            print(
                f"{n:>2} model(s): with the loader {on:.2f} s, without {off:.2f} s, saves {off - on:.2f} s "
                f"({(off - on) / off:.0%}); runs {len(cases[(n, True)])}"
            )


if __name__ == "__main__":
    main()
