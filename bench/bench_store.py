"""How much one durable state change costs as the store grows (RELIABILITY §3.2).

The store is TinyDB on an atomic storage (publisher/store). Each state change
(`JobStore.transition`, a claim `scheduled -> publishing` or back) validates the job,
serialises the changed document, writes jobs.json to a temp file, fsyncs it, renames it over
the old one and fsyncs the folder. Its cost follows the size of jobs.json, so the archive keeps
jobs.json to the active jobs.

Assumptions (say so next to the figures):
- a finished job is a typical published one: 5 history events, 1 container, 12 API calls
  (create, 9 status polls, publish, permalink), about 4 KB of JSON;
- "with archive": ACTIVE jobs stay in jobs.json (150 waiting, 50 finished in the last days,
  not yet archived) and the rest of the total is archived over 24 months;
- "no archive": every job of the total is in jobs.json (what a store without an archive, or
  one never archived, costs).

Then: adding N new waiting jobs (a daemon's first start on N new drafts) one `add` at a time
(a full rewrite each: quadratic) and inside one `batch()` (one write); and the memory the open
store keeps per waiting job (tracemalloc, after one write, so every job's JSON is made); and
the first open of a state_dir written by the previous layout (keyed by job id), which converts
every file to TinyDB's layout.

Run: .venv/bin/python bench/bench_store.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from publisher.job import ApiCall, Container, Event, Job, State
from publisher.store import storage
from publisher.store.jobstore import JobStore

ACTIVE = 200
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def finished_job(number: int, when: datetime) -> dict[str, Any]:
    container = Container(id=f"1789{number:012d}", role="single", created_at=when)
    calls = [
        ApiCall(
            at=when + timedelta(seconds=3 * step),
            method="GET" if 0 < step < 10 else "POST",
            endpoint=f"/v25.0/1784140000000000{step}/media",
            status=200,
            duration_ms=120.5,
            step="poll" if 0 < step < 10 else "create",
            usage={"call_count": 4, "total_time": 2, "total_cputime": 1},
        )
        for step in range(12)
    ]
    states = ["scheduled", "publishing", "publishing", "published", "published"]
    history = [Event(at=when, state=state, note="slot reached") for state in states]
    job = Job(
        id=uuid.uuid4().hex,
        draft=f"posts/{when:%Y/%m}/post-{number}.yaml",
        fingerprint="f" * 64,
        account="main",
        type="carousel",
        state=State.PUBLISHED,
        scheduled_for=when,
        attempts=1,
        media_id=f"1792{number:013d}",
        permalink=f"https://www.instagram.com/p/C{number:09d}/",
        published_at=when,
        updated_at=when,
        created_at=when - timedelta(days=2),
        caption_hash="c" * 64,
        containers=(container,),
        history=tuple(history),
        api_calls=tuple(calls),
    )
    return job.to_document()


def waiting_job(number: int) -> dict[str, Any]:
    job = Job(
        id=uuid.uuid4().hex,
        draft=f"queue/post-{number}.yaml",
        fingerprint="f" * 64,
        account="main",
        type="post",
        state=State.SCHEDULED,
        scheduled_for=NOW + timedelta(hours=number),
        created_at=NOW,
        updated_at=NOW,
        history=(Event(at=NOW, state="scheduled", note="created"),),
    )
    return job.to_document()


def table_bytes(documents: dict[str, Any]) -> bytes:
    """TinyDB's layout: documents keyed 1, 2, 3, ... (the job id is a field)."""
    numbered = {str(number): doc for number, doc in enumerate(documents.values(), 1)}
    return storage.encode({storage.TABLE: numbered})


def previous_layout_bytes(documents: dict[str, Any]) -> bytes:
    """The layout before TinyDB came back: the same shape, keyed by job id."""
    lines = [f"{json.dumps(key)}:{json.dumps(value)}" for key, value in documents.items()]
    return ('{"jobs":{\n' + ",\n".join(lines) + "\n}}\n").encode()


def build(state_dir: Path, total: int, archived: bool, *, previous: bool = False) -> list[str]:
    """Write a state_dir holding `total` jobs (in the previous layout if `previous`); return
    the ids of the jobs to update."""
    layout = previous_layout_bytes if previous else table_bytes
    state_dir.mkdir(parents=True)
    active_count = min(ACTIVE, total) if archived else total
    waiting = {doc["id"]: doc for doc in (waiting_job(n) for n in range(min(150, active_count)))}
    recent = {
        doc["id"]: doc
        for doc in (
            finished_job(n, NOW - timedelta(days=n % 5)) for n in range(active_count - len(waiting))
        )
    }
    (state_dir / "jobs.json").write_bytes(layout({**waiting, **recent}))
    if archived and total > active_count:
        folder = state_dir / "archive"
        folder.mkdir()
        months: dict[str, dict[str, Any]] = {}
        index: dict[str, Any] = {}
        for number in range(total - active_count):
            when = NOW - timedelta(days=40 + (number % 720))
            document = finished_job(number, when)
            month = f"{when:%Y-%m}"
            months.setdefault(month, {})[document["id"]] = document
            if previous:
                index[document["id"]] = [document["draft"], month]
            else:
                entry = {"id": document["id"], "draft": document["draft"], "month": month}
                index[document["id"]] = entry
        for month, documents in months.items():
            (folder / f"{month}.json").write_bytes(layout(documents))
        (folder / "index.json").write_bytes(layout(index))
    return list(waiting)


def measure(total: int, archived: bool, updates: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp) / "state"
        ids = build(state_dir, total, archived)
        size = (state_dir / "jobs.json").stat().st_size
        started = time.perf_counter()
        store = JobStore(state_dir, clock=lambda: NOW)
        open_s = time.perf_counter() - started
        costs, cpu = [], []
        try:
            for number in range(updates):
                job_id = ids[number % len(ids)]
                claim = (number // len(ids)) % 2 == 0  # one pass claims, the next puts back
                started, started_cpu = time.perf_counter(), time.thread_time()
                if claim:
                    changed = store.transition(job_id, State.PUBLISHING, expect={State.SCHEDULED})
                else:
                    changed = store.transition(job_id, State.SCHEDULED, "back")
                costs.append((time.perf_counter() - started) * 1000)
                cpu.append((time.thread_time() - started_cpu) * 1000)
                assert changed is not None
        finally:
            store.close()
    costs.sort()
    cpu.sort()
    return {
        "total": total,
        "layout": f"{ACTIVE} active + archive" if archived else "all in jobs.json",
        "jobs_json_kb": size / 1024,
        "open_s": open_s,
        "updates": updates,
        "p50": statistics.median(costs),
        "p99": costs[min(len(costs) - 1, int(len(costs) * 0.99))],
        "cpu_p99": cpu[min(len(cpu) - 1, int(len(cpu) * 0.99))],
    }


def measure_adds(count: int, batched: bool) -> dict[str, Any]:
    """Seconds to add `count` new waiting jobs to an empty store, one write each or one
    batch."""
    jobs = [Job.from_document(waiting_job(number)) for number in range(count)]
    with tempfile.TemporaryDirectory() as tmp, JobStore(Path(tmp), clock=lambda: NOW) as store:
        started = time.perf_counter()
        if batched:
            with store.batch():
                for job in jobs:
                    store.add(job)
        else:
            for job in jobs:
                store.add(job)
        seconds = time.perf_counter() - started
        size = (Path(tmp) / "jobs.json").stat().st_size
    return {"count": count, "batched": batched, "seconds": seconds, "jobs_json_kb": size / 1024}


def measure_memory(count: int) -> dict[str, Any]:
    """Bytes the open store keeps per waiting job (tracemalloc), after one update."""
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp)
        documents = {doc["id"]: doc for doc in (waiting_job(n) for n in range(count))}
        (state_dir / "jobs.json").write_bytes(table_bytes(documents))
        first = next(iter(documents))
        del documents
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            store = JobStore(state_dir, clock=lambda: NOW)
            store.update(first, attempts=1)
            kept, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        store.close()
    return {"count": count, "per_job": (kept - before) / count, "peak_mb": (peak - before) / 1e6}


def measure_conversion(total: int) -> dict[str, Any]:
    """Seconds for the first open of a previous-layout state_dir of `total` jobs (ACTIVE in
    jobs.json, the rest archived), which converts it, and for the open after it."""
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp) / "state"
        build(state_dir, total, True, previous=True)
        started = time.perf_counter()
        with JobStore(state_dir, clock=lambda: NOW) as store:
            first_s = time.perf_counter() - started
            active = len(store.all())
        started = time.perf_counter()
        with JobStore(state_dir, clock=lambda: NOW):
            next_s = time.perf_counter() - started
        kept = len(list(state_dir.rglob("*.pre-tinydb")))
    return {"total": total, "active": active, "first_s": first_s, "next_s": next_s, "kept": kept}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 100k no-archive case")
    args = parser.parse_args()
    cases = [(1_000, True, 300), (10_000, True, 300), (100_000, True, 300)]
    cases += [(1_000, False, 300), (10_000, False, 100)]
    if not args.quick:
        cases.append((100_000, False, 20))
    header = (
        f"{'total':>7}  {'layout':<22} {'jobs.json':>10} {'open':>7} {'n':>4} {'p50':>9} {'p99':>9}"
        f" {'cpu p99':>9}"
    )
    print(header)
    print("-" * len(header))
    for total, archived, updates in cases:
        row = measure(total, archived, updates)
        print(
            f"{row['total']:>7}  {row['layout']:<22} {row['jobs_json_kb']:>8.0f}KB "
            f"{row['open_s']:>6.2f}s {row['updates']:>4} {row['p50']:>7.2f}ms {row['p99']:>7.2f}ms "
            f"{row['cpu_p99']:>7.2f}ms",
            flush=True,
        )
    print(
        "\nstate change = JobStore.transition(job_id, publishing or scheduled): validate, "
        "serialise, temp + fsync + rename + dir fsync (p50, p99: wall clock).\ncpu p99: the "
        "calling thread's CPU time, without the wait for the disk.\nA finished job is ~4 KB "
        "(5 events, 1 container, 12 API calls)."
    )
    print(f"\n{'new jobs':>8}  {'how':<18} {'seconds':>8} {'jobs.json':>10}")
    adds = [(1_000, False), (1_000, True), (10_000, True)]
    if not args.quick:
        adds.insert(1, (2_000, False))
    for count, batched in adds:
        row = measure_adds(count, batched)
        how = "one batch()" if batched else "one add() each"
        print(
            f"{count:>8}  {how:<18} {row['seconds']:>7.2f}s {row['jobs_json_kb']:>8.0f}KB",
            flush=True,
        )
    memory = measure_memory(10_000)
    print(
        f"\nmemory: {memory['per_job']:.0f} B per waiting job kept by the open store "
        f"({memory['count']} jobs; peak while opening {memory['peak_mb']:.0f} MB)"
    )
    print(f"\n{'previous layout':>15}  {'first open (converts)':>21} {'next open':>10} {'kept':>5}")
    for total in (10_000,) if args.quick else (10_000, 100_000):
        row = measure_conversion(total)
        print(
            f"{row['total']:>15}  {row['first_s']:>20.2f}s {row['next_s']:>9.2f}s "
            f"{row['kept']:>5}   ({row['active']} active jobs)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
