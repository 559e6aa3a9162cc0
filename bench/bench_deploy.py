"""Deploy overhead: `ecs-autoscale deploy` against a raw `terraform init` + `terraform apply` of the same
JSON, both against the local emulator, side by side in one run (target: CLI <= 1.1x raw).

    python bench/bench_deploy.py                 # 3 rounds after 1 warm-up round
    python bench/bench_deploy.py --repeat 5

raw  a fresh folder holding the seed's cdk.tf.json (made by `ecs-autoscale synth`) and a CLI config
     installing hashicorp/aws from the mirror; `terraform init` then `terraform apply -auto-approve`.
cli  `ecs-autoscale deploy SEED STACK_DIR --auto-approve --endpoint-url URL --provider-mirror DIR` into a
     fresh STACK_DIR (so it synthesizes cold, inits, plans, shows the plan, applies, reads outputs).

The emulator (moto, ecs_autoscale.emulator.server.start_background) runs in this process and is reset
before every run, so each one deploys into the same empty account. Neither side may reach the network
or a real AWS account (no AWS_*/TF_* of the machine, proxies on a closed port). The cases alternate
order per round; medians are reported because other work on the machine makes timings noisy.
Writes bench/results/deploy-<time>.json and .md (gitignored) and prints the markdown table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
CLI = str(Path(sys.executable).with_name("ecs-autoscale"))
PROVIDER = "registry.terraform.io/hashicorp/aws"
TARGET = 1.1


def not_runnable_reason(mirror: Path) -> str | None:
    if importlib.util.find_spec("ecs_autoscale.cli.lifecycle") is None:
        return "ecs_autoscale/cli/lifecycle.py (the deploy command) does not exist yet"
    if importlib.util.find_spec("ecs_autoscale.emulator.server") is None:
        return "ecs_autoscale/emulator/server.py does not exist yet"
    from ecs_autoscale.cli import lifecycle
    from ecs_autoscale.emulator import server

    if not hasattr(lifecycle, "deploy"):
        return "ecs_autoscale.cli.lifecycle has no deploy command yet"
    if not hasattr(server, "start_background"):
        return "ecs_autoscale.emulator.server has no start_background yet"
    if importlib.util.find_spec("moto") is None:
        return "moto is not installed (pip install -e '.[emulator]')"
    if not shutil.which("terraform"):
        return "terraform is not on PATH"
    if not (mirror / PROVIDER).is_dir():
        return f"{mirror} holds no {PROVIDER} (pass --provider-mirror)"
    return None


def mirror_config(mirror: Path) -> str:
    return (
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["{PROVIDER}"]\n  }}\n'
        f'  direct {{\n    exclude = ["{PROVIDER}"]\n  }}\n'
        "}\n"
    )


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        sys.exit(
            f"bench: `{' '.join(argv)}` exited {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"
        )


def reset_emulator(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=60).read()


def raw_apply(folder: Path, stack_json: bytes, mirror: Path, env: dict[str, str]) -> float:
    folder.mkdir(parents=True)
    (folder / "cdk.tf.json").write_bytes(stack_json)
    (folder / "terraform.rc").write_text(mirror_config(mirror))
    tf_env = {**env, "TF_CLI_CONFIG_FILE": str(folder / "terraform.rc"), "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
    started = time.perf_counter()
    run(["terraform", "init", "-input=false", "-no-color"], folder, tf_env)
    run(["terraform", "apply", "-input=false", "-no-color", "-auto-approve"], folder, tf_env)
    return time.perf_counter() - started


def cli_deploy(stack_dir: Path, model: Path, mirror: Path, url: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    run(
        [
            CLI,
            "deploy",
            str(model),
            str(stack_dir),
            "--auto-approve",
            "--endpoint-url",
            url,
            "--provider-mirror",
            str(mirror),
        ],
        REPO,
        env,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (default 3; each deploys twice)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument("--model", type=Path, default=REPO / "examples" / "megadetector.yaml")
    parser.add_argument(
        "--provider-mirror",
        type=Path,
        default=Path(os.environ.get("ECS_AUTOSCALE_PROVIDER_MIRROR") or "/opt/tf-plugins"),
    )
    args = parser.parse_args()
    model, mirror = args.model.resolve(), args.provider_mirror.resolve()

    reason = not_runnable_reason(mirror)
    if reason:
        sys.exit(f"bench_deploy: not runnable yet: {reason}")

    from ecs_autoscale.aws_target import emulator_env
    from ecs_autoscale.emulator import sealed_env
    from ecs_autoscale.emulator.server import start_background

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per emulator request otherwise
    url, stop = start_background(port=0)
    times: dict[str, list[float]] = {"raw": [], "cli": []}
    same_json = None
    try:
        env = sealed_env(emulator_env(url))
        with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
            work = Path(tmp)
            run([CLI, "synth", str(model), "--no-cache", "--out", str(work / "synth")], REPO, env)
            [stack_json_path] = (work / "synth" / "stacks").glob("*/cdk.tf.json")
            stack_json = stack_json_path.read_bytes()
            rounds = args.warmup + args.repeat
            for round_ in range(rounds):
                order = ("raw", "cli") if round_ % 2 == 0 else ("cli", "raw")
                for case in order:
                    reset_emulator(url)
                    folder = work / f"{case}-{round_}"
                    seconds = (
                        raw_apply(folder, stack_json, mirror, env)
                        if case == "raw"
                        else cli_deploy(folder, model, mirror, url, env)
                    )
                    if case == "cli" and same_json is None:
                        same_json = (folder / "terraform" / "cdk.tf.json").read_bytes() == stack_json
                    if round_ >= args.warmup:
                        times[case].append(seconds)
                print(
                    f"round {round_ + 1}/{rounds}{' (warm-up)' if round_ < args.warmup else ''} done", file=sys.stderr
                )
    finally:
        stop()

    raw, cli = statistics.median(times["raw"]), statistics.median(times["cli"])
    ratio = cli / raw
    command = ("python bench/bench_deploy.py " + " ".join(sys.argv[1:])).strip()
    md = "\n".join(
        [
            f"Deploy of `{model.relative_to(REPO) if model.is_relative_to(REPO) else model}` against the emulator, "
            f"median of {args.repeat} alternating runs after {args.warmup} warm-up (`{command}`; "
            f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}).",
            "",
            "| case | median wall (s) | min-max (s) | ratio | target | met |",
            "|---|---:|---:|---:|---|:---:|",
            f"| raw `terraform init` + `apply -auto-approve` | {raw:.1f} | "
            f"{min(times['raw']):.1f}-{max(times['raw']):.1f} | 1.00x | | |",
            f"| `ecs-autoscale deploy --auto-approve` (fresh STACK_DIR) | {cli:.1f} | "
            f"{min(times['cli']):.1f}-{max(times['cli']):.1f} | {ratio:.2f}x | <= {TARGET}x raw | "
            f"{'yes' if ratio <= TARGET else 'NO'} |",
            "",
            f"Same JSON applied by both: {'yes' if same_json else 'NO'}.",
        ]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"deploy-{stamp}.md").write_text(md + "\n")
    (RESULTS / f"deploy-{stamp}.json").write_text(
        json.dumps(
            {
                "command": command,
                "repeat": args.repeat,
                "warmup": args.warmup,
                "same_json": same_json,
                "seconds": times,
                "ratio": ratio,
            },
            indent=2,
        )
        + "\n"
    )
    shutil.copyfile(RESULTS / f"deploy-{stamp}.md", RESULTS / "deploy-latest.md")
    print(md)


if __name__ == "__main__":
    main()
