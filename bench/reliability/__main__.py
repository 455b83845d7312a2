"""Run the reliability scenarios and write docs/reliability.md (see bench/reliability)."""

from __future__ import annotations

import argparse
import importlib
import logging
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench.reliability.common import Row, cpu_count, verdict
from tests.support.paths import REPO

# key -> module (bench/reliability/<module>.py), in the order of the matrix
SCENARIOS = {
    "kills": "kills",
    "lost_answers": "lost_answers",
    "storm": "storm",
    "full_disk": "full_disk",
    "editing": "editing",
    "attacks": "attacks",
    "clock_jumps": "clock_jumps",
    "hostile": "hostile",
}
OUTPUT = REPO / "docs" / "reliability.md"

HEADER = """# Reliability

What users meet (a kill -9, a lost answer, a storm of 5xx, a full disk, an editor saving
while publisher writes, an attacker in content_dir, a clock that jumps, a hostile draft),
each done many times to the real code and counted. Written by `make reliability`
(`.venv/bin/python -m bench.reliability`, about {minutes} min on this machine); each row
names the command that re-runs it alone. A row that fails is reported as failing: it is
what today's code does, not a goal met.

Machine: {cpus} cores (shared), {python}, {system}; run {date}{partial}.

| scenario | what was done | figure | goal | result | command |
| --- | --- | --- | --- | --- | --- |
"""


def render(rows: list[Row], seconds: float, partial: bool) -> str:
    text = HEADER.format(
        minutes=max(1, round(seconds / 60)),
        cpus=cpu_count(),
        python=f"CPython {platform.python_version()}",
        system=f"{platform.system()} {platform.release()}",
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        partial=" (only some scenarios: `--only`)" if partial else "",
    )
    for row in rows:
        text += (
            f"| {row.scenario} | {row.done} | {row.figure} | {row.goal} | "
            f"{verdict(row.passed)} | `{row.command}` |\n"
        )
    failing = [row for row in rows if not row.passed or row.notes]
    if failing:
        text += "\n## Details\n\n"
        for row in failing:
            text += f"**{row.scenario}** ({verdict(row.passed)}):\n\n"
            text += "".join(f"- {note}\n" for note in row.notes) or "- (no detail)\n"
            text += "\n"
    passed = sum(row.passed for row in rows)
    text += f"\n{passed} of {len(rows)} rows pass.\n"
    text += "\n" + NOTES
    return text


NOTES = (REPO / "bench" / "reliability" / "NOTES.md").read_text(encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability")
    parser.add_argument("--only", help="comma-separated scenarios: " + ", ".join(SCENARIOS))
    parser.add_argument("--quick", action="store_true", help="a few repetitions of each")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a row fails (the matrix is written)"
    )
    options = parser.parse_args(argv)
    keys = options.only.split(",") if options.only else list(SCENARIOS)
    unknown = [key for key in keys if key not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    logging.basicConfig(level=logging.CRITICAL)  # the code's own warnings are expected here
    rows: list[Row] = []
    started = time.monotonic()
    for key in keys:
        began = time.monotonic()
        print(f"== {key}", flush=True)
        module = importlib.import_module(f"bench.reliability.{SCENARIOS[key]}")
        try:
            new = module.run(options.quick)
        except Exception as exc:  # a scenario that cannot run is a failing row, not a crash
            detail = traceback.format_exception_only(exc)[-1].strip()
            new = [Row(key, key, "the scenario itself failed", detail, "runs", False)]
            traceback.print_exc()
        for row in new:
            print(f"   {verdict(row.passed):8} {row.scenario}: {row.figure}", flush=True)
        print(f"   ({time.monotonic() - began:.0f} s)", flush=True)
        rows += new
    seconds = time.monotonic() - started
    options.output.write_text(render(rows, seconds, bool(options.only)), encoding="utf-8")
    print(f"wrote {options.output} in {seconds:.0f} s")
    failing = [row.scenario for row in rows if not row.passed]
    if failing:
        print(f"{len(failing)} row(s) fail: {'; '.join(failing)}")
    return 1 if failing and options.strict else 0


if __name__ == "__main__":
    sys.exit(main())
