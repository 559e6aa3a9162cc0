"""Synthesis speed, side by side in one run: the naive cdktf baseline against `ecs-autoscale`.

Every case is a fresh subprocess, exactly as a user runs it; the cases are interleaved (rotating order)
for --repeat rounds after --warmup untimed rounds, so machine load hits all of them alike. Medians are
reported, with min-max, because other work on the machine makes single timings noisy.

    python bench/bench_synth.py                # 5 rounds
    python bench/bench_synth.py --repeat 9 --only naive,cold

Cases (targets from issue 5):
  naive     bench/naive_synth.py: standard provider imports + the same VideoProcessingStack
  cold      ecs-autoscale synth SEED --no-cache into a fresh folder         target <= 0.25x naive
  cached    ecs-autoscale synth SEED, unchanged since the previous run       target <= 0.05x naive
  ten       ecs-autoscale synth of 10 model files (distinct StackNames), --no-cache, fresh folder
                                                                             target <= 1.3x cold
  help      ecs-autoscale --help                                             target < 0.5 s
  validate  ecs-autoscale validate SEED                                      target < 0.5 s

Writes bench/results/synth-<time>.json and .md (gitignored) and prints the markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PYTHON = sys.executable
CLI = str(Path(sys.executable).with_name("ecs-autoscale"))


@dataclass
class Case:
    name: str
    label: str
    argv: Callable[[], list[str]]  # called before each run (fresh output folders)
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    case: str
    against: str | None  # None: absolute seconds
    limit: float
    text: str


TARGETS = [
    Target("cold", "naive", 0.25, "<= 0.25x naive"),
    Target("cached", "naive", 0.05, "<= 0.05x naive"),
    Target("ten", "cold", 1.3, "<= 1.3x one model (cold)"),
    Target("help", None, 0.5, "< 0.5 s"),
    Target("validate", None, 0.5, "< 0.5 s"),
]


def run_timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its waited-for children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"bench: `{' '.join(argv)}` exited {proc.returncode}\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def ten_models(folder: Path, seed: Path) -> list[str]:
    text = seed.read_text()
    files = []
    for i in range(10):
        lines = [f"StackName: BenchModel{i}" if line.startswith("StackName:") else line for line in text.splitlines()]
        path = folder / f"model{i}.yaml"
        path.write_text("\n".join(lines) + "\n")
        files.append(str(path))
    return files


def build_cases(work: Path, seed: Path) -> tuple[list[Case], Path]:
    counter = iter(range(10**6))

    def fresh(prefix: str) -> str:
        return str(work / f"{prefix}-{next(counter)}")

    cached_out = work / "cached"
    (work / "models").mkdir()
    models = ten_models(work / "models", seed)
    return [
        Case(
            "naive",
            "naive cdktf (standard imports)",
            lambda: [PYTHON, "bench/naive_synth.py", str(seed), fresh("naive")],
        ),
        Case(
            "cold", "ours, cold (`--no-cache`)", lambda: [CLI, "synth", str(seed), "--no-cache", "--out", fresh("cold")]
        ),
        Case("cached", "ours, unchanged re-synth", lambda: [CLI, "synth", str(seed), "--out", str(cached_out)]),
        Case(
            "ten",
            "ours, 10 models in one command (cold)",
            lambda: [CLI, "synth", *models, "--no-cache", "--out", fresh("ten")],
        ),
        Case("help", "`ecs-autoscale --help`", lambda: [CLI, "--help"]),
        Case("validate", "`ecs-autoscale validate`", lambda: [CLI, "validate", str(seed)]),
    ], cached_out


def same_output(work: Path, stack: str) -> bool | None:
    """Whether the naive and our cold run wrote byte-identical JSON (first of each)."""
    found = {}
    for prefix in ("naive", "cold"):
        candidates = sorted(work.glob(f"{prefix}-*/stacks/{stack}/cdk.tf.json"))
        if not candidates:
            return None
        found[prefix] = candidates[0].read_bytes()
    return found["naive"] == found["cold"]


def fmt_seconds(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}"


def table(cases: dict[str, Case]) -> str:
    median = {name: statistics.median(c.walls) for name, c in cases.items() if c.walls}
    target_of = {t.case: t for t in TARGETS}
    rows = [
        "| case | median wall (s) | min-max (s) | median CPU (s) | ratio | target | met |",
        "|---|---:|---:|---:|---:|---|:---:|",
    ]
    for name, case in cases.items():
        if not case.walls:
            continue
        ratio, target, met = "", "", ""
        t = target_of.get(name)
        if name == "naive":
            ratio = "1.00x"
        if t:
            target = t.text
            if t.against is None:
                met = "yes" if median[name] < t.limit else "NO"
            elif t.against in median:
                value = median[name] / median[t.against]
                ratio = f"{value:.3f}x {t.against}"
                met = "yes" if value <= t.limit else "NO"
        if name in ("cold", "cached", "ten") and "naive" in median and not ratio.endswith("naive"):
            ratio = (ratio + "; " if ratio else "") + f"{median[name] / median['naive']:.3f}x naive"
        rows.append(
            f"| {case.label} | {median[name]:.2f} | {min(case.walls):.2f}-{max(case.walls):.2f} | "
            f"{fmt_seconds(case.cpus)} | {ratio} | {target} | {met} |"
        )
    return "\n".join(rows)


def ten_models_note(cases: dict[str, Case]) -> str:
    ten, cold = statistics.median(cases["ten"].walls), statistics.median(cases["cold"].walls)
    return (
        f"10 models in one command: {ten:.2f} s, against ~{10 * cold:.1f} s for 10 separate cold commands "
        f"({ten / (10 * cold):.2f}x); each model after the first adds ~{(ten - cold) / 9:.2f} s."
    )


def machine() -> dict[str, object]:
    def quiet(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return "?"

    return {
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "python": platform.python_version(),
        "node": quiet(["node", "--version"]),
        "commit": quiet(["git", "rev-parse", "--short", "HEAD"]),
        "uncommitted_changes": bool(quiet(["git", "status", "--porcelain", "--untracked-files=no"])),
        # Set in some sandboxes: then our own (editable) modules are compiled on every run.
        "no_bytecode_writes": bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument("--only", help="comma-separated cases (default: all)")
    parser.add_argument("--model", type=Path, default=REPO / "examples" / "megadetector.yaml")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if k != "ECS_AUTOSCALE_STANDARD_IMPORT"}
    info = machine()
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        work = Path(tmp)
        all_cases, cached_out = build_cases(work, args.model.resolve())
        wanted = set(args.only.split(",")) if args.only else {c.name for c in all_cases}
        cases = [c for c in all_cases if c.name in wanted]
        if "cached" in wanted:  # the cached case re-synthesizes an unchanged model
            run_timed([CLI, "synth", str(args.model.resolve()), "--out", str(cached_out)], env)
        rounds = args.warmup + args.repeat
        for round_ in range(rounds):
            order = cases[round_ % len(cases) :] + cases[: round_ % len(cases)]
            for case in order:
                wall, cpu = run_timed(case.argv(), env)
                if round_ >= args.warmup:
                    case.walls.append(wall)
                    case.cpus.append(cpu)
            print(f"round {round_ + 1}/{rounds}{' (warm-up)' if round_ < args.warmup else ''} done", file=sys.stderr)
        identical = same_output(work, "Megadetector") if args.model.name == "megadetector.yaml" else None
    info["loadavg_end"] = os.getloadavg()

    by_name = {c.name: c for c in cases}
    command = "python bench/bench_synth.py " + " ".join(sys.argv[1:])
    md = "\n".join(
        [
            f"Synthesis of `{args.model.relative_to(REPO) if args.model.is_relative_to(REPO) else args.model}`, "
            f"median of {args.repeat} interleaved runs after {args.warmup} warm-up "
            f"(`{command.strip()}`; {info['cpus']} CPUs, load {info['loadavg_start'][0]:.1f} -> "
            f"{info['loadavg_end'][0]:.1f}, Python {info['python']}, Node {info['node']}, commit {info['commit']}"
            f"{' + uncommitted changes' if info['uncommitted_changes'] else ''}"
            f"{', PYTHONDONTWRITEBYTECODE=1' if info['no_bytecode_writes'] else ''}).",
            "",
            table(by_name),
            "",
            *(
                [f"Naive and cold output byte-identical: {'yes' if identical else 'NO'}."]
                if identical is not None
                else []
            ),
            *(
                [ten_models_note(by_name)]
                if by_name.get("ten") and by_name.get("cold") and by_name["ten"].walls and by_name["cold"].walls
                else []
            ),
        ]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"synth-{stamp}.md").write_text(md + "\n")
    (RESULTS / f"synth-{stamp}.json").write_text(
        json.dumps(
            {
                "machine": info,
                "command": command,
                "repeat": args.repeat,
                "warmup": args.warmup,
                "identical_output": identical,
                "cases": {c.name: {"label": c.label, "wall": c.walls, "cpu": c.cpus} for c in cases},
            },
            indent=2,
        )
        + "\n"
    )
    shutil.copyfile(RESULTS / f"synth-{stamp}.md", RESULTS / "synth-latest.md")
    print(md)


if __name__ == "__main__":
    main()
