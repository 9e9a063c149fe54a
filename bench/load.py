"""Mixed traffic against a running service with Locust, and what the store shows afterwards.

:func:`make_plan` creates the load's users in a scored store (two mentors per team, one data-team user)
and writes the plan the locustfile reads; :func:`run_locust` runs Locust headless for a fixed time at a
fixed offered rate (it stops by itself) and reads its CSV statistics; :func:`stored_writes` counts what
the load's mentors wrote, to compare with the writes Locust saw succeed; :func:`run_closed_loop` runs
on-demand scores in a closed loop (each user sends the next request as soon as the previous one answered)
for the throughput at saturation.
Used by ``bench/bench_load.py`` (60 s at 100 requests/s on PostgreSQL), ``bench/bench_serving.py`` (closed
loop) and ``tests/security/test_load.py``.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
USER_PREFIX = "load-mentor-"
KINDS = ("risk list", "student score", "record action", "on-demand score")


@dataclass(frozen=True)
class Plan:
    """Who the virtual users are: mentors with their team and students, the data team's token."""

    week: int
    mentors: list[dict[str, Any]]
    data_token: str
    features: dict[str, float]


def make_plan(engine: Engine, week: int, teams: int, path: Path) -> Plan:
    """Two mentors for each of the ``teams`` largest teams scored in ``week``; the plan goes to ``path``."""
    from workflows.users import upsert_user

    with engine.connect() as conn:
        chosen = [
            str(t)
            for t in conn.execute(
                text("SELECT team FROM scores WHERE week = :w GROUP BY team ORDER BY COUNT(*) DESC, team"),
                {"w": week},
            ).scalars()
        ][:teams]
        if not chosen:
            raise ValueError(f"no scores in week {week}: score the week first")
        students = {
            team: [
                str(s)
                for s in conn.execute(
                    text("SELECT student_id FROM scores WHERE week = :w AND team = :t ORDER BY student_id"),
                    {"w": week, "t": team},
                ).scalars()
            ]
            for team in chosen
        }
        stored = conn.execute(
            text("SELECT feature_values FROM scores WHERE week = :w ORDER BY student_id LIMIT 1"), {"w": week}
        ).scalar_one()
    mentors = []
    for i, team in enumerate(chosen):
        for side in ("a", "b"):
            name = f"{USER_PREFIX}{i}{side}"
            token = upsert_user(engine, name, "mentor", [team], f"tok-{name}")
            mentors.append({"name": name, "token": token, "team": team, "students": students[team]})
    data_token = upsert_user(engine, "load-data", "datateam", [], "tok-load-data")
    features = json.loads(stored) if isinstance(stored, str) else stored
    plan = Plan(week, mentors, data_token, {k: float(v) for k, v in features.items()})
    path.write_text(json.dumps(asdict(plan)), encoding="utf-8")
    return plan


@dataclass
class KindStats:
    """Locust's figures for one request kind (milliseconds; Locust rounds above 100 ms)."""

    requests: int
    failures: int
    median_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class LoadResult:
    """One Locust run: offered and achieved rate, figures per kind, and the failures it saw."""

    offered_rate: float
    seconds: float
    users: int
    achieved_rate: float
    slowest_window_rate: float
    kinds: dict[str, KindStats]
    total: KindStats
    failure_messages: list[str] = field(default_factory=list)
    exit_code: int = 0
    # CPU used during the run, in cores (CPU seconds per second of load): service, postgres, locust, machine
    cores_busy: dict[str, float] = field(default_factory=dict)

    def successes(self, kind: str) -> int:
        stats = self.kinds.get(kind)
        return 0 if stats is None else stats.requests - stats.failures


def percentile(histogram: dict[int, int], q: float) -> float:
    """The ``q`` quantile (0-1) of a histogram of response times (ms -> count)."""
    total = sum(histogram.values())
    if total == 0:
        return math.nan
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= q * total:
            return float(value)
    return float(max(histogram))


def _kind(entries: list[dict[str, Any]]) -> KindStats:
    """Figures of one request kind (or of all, merged) from Locust's serialized statistics."""
    histogram: Counter[int] = Counter()
    for entry in entries:
        histogram.update({int(ms): n for ms, n in entry["response_times"].items()})
    return KindStats(
        requests=sum(e["num_requests"] for e in entries),
        failures=sum(e["num_failures"] for e in entries),
        median_ms=percentile(histogram, 0.50),
        p95_ms=percentile(histogram, 0.95),
        p99_ms=percentile(histogram, 0.99),
        max_ms=round(max((e["max_response_time"] for e in entries), default=math.nan), 1),
    )


def per_second(entries: list[dict[str, Any]]) -> dict[int, int]:
    """Requests completed in each second (Unix time) over all kinds."""
    counts: Counter[int] = Counter()
    for entry in entries:
        counts.update({int(t): n for t, n in entry["num_reqs_per_sec"].items()})
    return dict(counts)


def slowest_window(counts: dict[int, int], seconds: int, window: int = 10, skip: int = 5) -> float:
    """The lowest rate over any ``window`` seconds of the run, after the first ``skip`` seconds (ramp-up)
    and before the stop."""
    if not counts:
        return math.nan
    first = min(counts)
    span = range(first + skip, first + seconds - window + 1)
    rates = [sum(counts.get(t, 0) for t in range(s, s + window)) / window for s in span]
    return min(rates) if rates else math.nan


def run_locust(
    base_url: str,
    plan_path: Path,
    out_dir: Path,
    rate: float,
    seconds: int,
    users: int,
    service_pgid: int | None = None,
) -> LoadResult:
    """Locust headless at ``rate`` requests/s from ``users`` users for ``seconds``; stops by itself.

    ``out_dir`` receives Locust's final statistics (``stats.json``), its failures (``errors.json``), its
    HTML report with charts (``report.html``) and its log."""
    return _locust("Mentor", base_url, plan_path, out_dir, rate, seconds, users, service_pgid)


def run_closed_loop(
    base_url: str, plan_path: Path, out_dir: Path, seconds: int, users: int, service_pgid: int | None = None
) -> LoadResult:
    """On-demand scores with explanation (the plan's feature row, under its data-team token) in a closed
    loop: each of ``users`` users, one connection each, sends the next request as soon as the previous
    one answered, for ``seconds``; the achieved rate is the throughput at that concurrency. The offered
    rate is reported as NaN (there is none)."""
    return _locust("OnDemandScorer", base_url, plan_path, out_dir, math.nan, seconds, users, service_pgid)


def _locust(
    user_class: str,
    base_url: str,
    plan_path: Path,
    out_dir: Path,
    rate: float,
    seconds: int,
    users: int,
    service_pgid: int | None,
) -> LoadResult:
    """Locust headless with ``users`` users of ``user_class`` (bench/locustfile.py) for ``seconds``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "VSV_LOAD_PLAN": str(plan_path),
        "VSV_LOAD_RATE_PER_USER": repr(rate / users),
        "VSV_LOAD_ERRORS": str(out_dir / "errors.json"),
    }
    for old in ("stats.json", "errors.json", "report.html"):
        (out_dir / old).unlink(missing_ok=True)
    cpu_before, children_before = cpu_snapshot(service_pgid), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--host",
            base_url,
            "--users",
            str(users),
            "--spawn-rate",
            str(users),
            "--run-time",
            f"{seconds}s",
            "--stop-timeout",
            "10",
            "--json-file",
            str(out_dir / "stats"),
            "--html",
            str(out_dir / "report.html"),
            "--loglevel",
            "WARNING",
            user_class,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
    )
    cpu_after, children_after = cpu_snapshot(service_pgid), resource.getrusage(resource.RUSAGE_CHILDREN)
    cores = {name: round(used / seconds, 2) for name, used in cpu_used(cpu_before, cpu_after).items()}
    cores["locust"] = round(
        (
            children_after.ru_utime
            + children_after.ru_stime
            - children_before.ru_utime
            - children_before.ru_stime
        )
        / seconds,
        2,
    )
    (out_dir / "locust.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    stats_file = out_dir / "stats.json"
    if not stats_file.exists():
        raise RuntimeError(f"Locust wrote no statistics (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    entries: list[dict[str, Any]] = json.loads(stats_file.read_text(encoding="utf-8"))
    errors_file = out_dir / "errors.json"
    errors = json.loads(errors_file.read_text(encoding="utf-8")) if errors_file.exists() else []
    counts = per_second(entries)
    in_run = sum(n for t, n in counts.items() if counts and t < min(counts) + seconds)
    return LoadResult(
        offered_rate=rate,
        seconds=seconds,
        users=users,
        achieved_rate=in_run / seconds,
        slowest_window_rate=slowest_window(counts, seconds),
        kinds={e["name"]: _kind([e]) for e in entries},
        total=_kind(entries),
        failure_messages=[f"{e['method']} {e['name']} x{e['occurrences']}: {e['error']}" for e in errors],
        exit_code=proc.returncode,
        cores_busy=cores,
    )


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_snapshot(service_pgid: int | None) -> dict[str, float]:
    """CPU seconds used so far by each process of interest (``service:PID`` for the service's process
    group, uvicorn and its workers; ``postgres:PID`` for PostgreSQL's processes), and ``machine``: busy
    time on every core, from /proc/stat."""
    out: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
        if service_pgid is not None and int(fields[2]) == service_pgid:
            out[f"service:{stat.parent.name}"] = seconds
        elif name.startswith(("postgres", "postmaster")):
            out[f"postgres:{stat.parent.name}"] = seconds
    cpu = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    out["machine"] = (sum(cpu) - cpu[3] - cpu[4]) / CLOCK_TICKS  # all but idle and iowait
    return out


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds used between two snapshots, by group; a process that ended meanwhile is not counted,
    one that started meanwhile counts whole."""
    used: dict[str, float] = {"service": 0.0, "postgres": 0.0, "machine": 0.0}
    for key, seconds in after.items():
        used[key.split(":")[0]] += seconds - before.get(key, 0.0)
    return used


@dataclass(frozen=True)
class StoredWrites:
    """What the load's mentors left in the store: actions, and allowed audit entries for them."""

    actions: int
    audited_actions: int
    by_mentor: dict[str, int]


def stored_writes(engine: Engine) -> StoredWrites:
    """Count the actions recorded by the load's mentors and the audit entries of those writes."""
    from data.schema import AuditLog, StudentAction

    like = f"{USER_PREFIX}%"
    with engine.connect() as conn:
        by_mentor = {
            str(name): int(n)
            for name, n in conn.execute(
                select(StudentAction.user_name, func.count())
                .where(StudentAction.user_name.like(like))
                .group_by(StudentAction.user_name)
            )
        }
        audited = conn.execute(
            select(func.count()).where(
                AuditLog.user_name.like(like), AuditLog.action == "record_action", AuditLog.allowed.is_(True)
            )
        ).scalar_one()
    return StoredWrites(sum(by_mentor.values()), int(audited), by_mentor)
