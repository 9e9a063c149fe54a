"""Benchmark: questionnaire rounds on PostgreSQL, the two targets of the issue.

1. Round opening: "a round for 30,000 students opened (links created, e-mails queued to a local SMTP sink)
   in under a minute". Timed apart: :func:`workflows.rounds.open_rounds` for every team in one transaction
   (links and queued invitations, committed: the one-minute target), then
   :func:`workflows.rounds.send_outbox` with the real :class:`workflows.mailer.SmtpMailer` to a local SMTP
   sink (aiosmtpd, in a process of its own, counting what it accepts and keeping each e-mail's answer
   token), reported beside it with its rate. Last, after an ANALYZE (as autovacuum would run), the next
   week's round is opened too (not sent): the first round on a fresh store and every later one differ.
2. Monday peak: "2,000 students submitting within 10 minutes with 0 errors, p95 page load and submit under
   200 ms on this machine". The real service (``vsv serve``, uvicorn, ``--workers`` processes, default
   pool) runs in a subprocess on a free loopback port; ``--peak`` students, picked at random from the ones
   whose invitation the sink received, each open the personal link from their e-mail (GET /v/<token>) and
   submit every answer (POST /v/<token>, with the browser's Origin header); one in twenty says yes to
   "wil praten", so the safeguarding path runs. ``--concurrency`` of them at a time (threads, one httpx
   client with keep-alive), as fast as the machine allows, or spread at random over ``--pace-minutes``.
   Latency is measured by the client (the network is loopback), per request kind: median, p95, max;
   any status but 200 is an error. Afterwards the store is checked: links answered, answer rows for the
   week, and zorgmeldingen for the week equal to the number who asked to talk.

The store is a throwaway PostgreSQL database (created on ``--server-url``, migrated, dropped at the end;
``--database-url`` uses an existing empty database instead and leaves it), filled directly with COPY:
``--students`` students in teams of 30, an identity with an e-mail address for 19 in 20, two weeks of
answers to every item and attendance for those weeks, so the safeguarding scan and the latest week read
tables of a realistic size. The bench process, the service, the sink and PostgreSQL share this machine.

Usage: python -m bench.bench_rounds [--students 30000 --peak 2000 --concurrency 16 --workers 1
       --pace-minutes 0 --database-url URL] [--quick]   -> var/bench/rounds.json
       (rounds-paced.json with --pace-minutes, rounds-quick.json with --quick). Flat out, the peak runs
       at many times the target's mean rate (2,000 in 10 minutes); ``--pace-minutes 9`` is the target's
       own load, with the last students done inside the ten minutes.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bench.common import WEEK_OF_YEAR, print_table, temporary_postgres, write_json

SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
WEEK = WEEK_OF_YEAR  # the round's week; the store holds answers and attendance for the two weeks before
TEAM_SIZE = 30
NO_EMAIL_EVERY = 20  # one student in twenty has no e-mail address in the identity table
HELP_EVERY = 20  # one submitting student in twenty answers "wil praten: ja"
BASE_URL = "http://127.0.0.1:8000"  # what the links in the e-mails start with (the token is what counts)
SENDER = "Vroegsignaal <vroegsignaal@school.example>"
WARM_UP = 5  # links opened before the peak (not among the measured students) to warm the service

TARGET_OPEN_STUDENTS = 30_000
TARGET_OPEN_SECONDS = 60.0
TARGET_PEAK_STUDENTS = 2_000
TARGET_PEAK_SECONDS = 600.0
TARGET_P95_MS = 200.0

_TOKEN_IN_MAIL = re.compile(r"/v/([A-Za-z0-9_-]{43})")
_RAW_TOKEN = re.compile(rb"/v/([A-Za-z0-9_-]{43})(?![A-Za-z0-9_=-])")
GIVEN = ("Sanne", "Daan", "Noah", "Emma", "Mohammed", "Lotte", "Finn", "Yara", "Sem", "Aylin", "Luuk", "Ivy")
FAMILY = ("de Jong", "Jansen", "de Vries", "Bakker", "Yilmaz", "Visser", "Smit", "El Amrani", "Meijer")
PROGRAMMES = {
    "techniek": "Monteur mechatronica",
    "zorg_welzijn": "Verzorgende IG",
    "economie": "Medewerker commercie",
    "ict": "Software developer",
    "horeca": "Kok",
    "groen": "Medewerker hovenier",
}


# --- the store ------------------------------------------------------------------------------------------


def _psycopg_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _copy(cur: Any, table: str, columns: Sequence[str], rows: Iterator[tuple[Any, ...]]) -> int:
    n = 0
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def fill_store(url: str, n_students: int, codes: Sequence[str], help_code: str) -> dict[str, Any]:
    """Migrate the store and write the students, identities, two weeks of answers and attendance (COPY)."""
    import psycopg

    from data.pseudonym import pseudonymise
    from data.store import make_engine, upgrade
    from data.vocabulary import PRIOR_EDUCATION, ROUTES, SECTORS
    from settings import DEV_PSEUDONYM_KEY

    started = time.perf_counter()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    numbers = [str(400_000 + i) for i in range(n_students)]
    ids = [pseudonymise(n, DEV_PSEUDONYM_KEY) for n in numbers]
    rng = random.Random(16)

    def students() -> Iterator[tuple[Any, ...]]:
        for i, sid in enumerate(ids):
            sector = SECTORS[(i // TEAM_SIZE) % len(SECTORS)]
            level = 2 + (i // TEAM_SIZE) % 3
            route = ROUTES[(i // (TEAM_SIZE * 7)) % 2]
            team = f"{sector[:4]}-{level}{route.lower()}-{i // TEAM_SIZE:04d}"
            yield (
                sid,
                f"{PROGRAMMES[sector]} niveau {level}",
                sector,
                level,
                route,
                team,
                PRIOR_EDUCATION[rng.randrange(len(PRIOR_EDUCATION))],
                0,
                round(rng.uniform(15.5, 21.0), 1),
                min(4, level),
            )

    def identities() -> Iterator[tuple[Any, ...]]:
        for i, (sid, number) in enumerate(zip(ids, numbers, strict=True)):
            email = None if i % NO_EMAIL_EVERY == NO_EMAIL_EVERY - 1 else f"{number}@student.school.example"
            yield (sid, number, GIVEN[i % len(GIVEN)], None, FAMILY[i % len(FAMILY)], email)

    def answers() -> Iterator[tuple[Any, ...]]:
        for week in (WEEK - 2, WEEK - 1):
            for sid in ids:
                for code in codes:
                    yield (sid, week, code, 0 if code == help_code else 3)

    def attendance() -> Iterator[tuple[Any, ...]]:
        for week in (WEEK - 2, WEEK - 1):
            for sid in ids:
                yield (sid, week, 24.0, 22.0, 1.0, 1.0)

    counts: dict[str, Any] = {"students": n_students, "teams": -(-n_students // TEAM_SIZE)}
    with psycopg.connect(_psycopg_url(url)) as pg, pg.cursor() as cur:
        _copy(
            cur,
            "students",
            (
                "student_id",
                "programme",
                "sector",
                "level",
                "route",
                "team",
                "prior_education",
                "start_week",
                "age_at_start",
                "expected_duration_years",
            ),
            students(),
        )
        counts["identities"] = _copy(
            cur,
            "identities",
            ("student_id", "student_number", "given_name", "name_prefix", "family_name", "email"),
            identities(),
        )
        counts["with_email"] = n_students - n_students // NO_EMAIL_EVERY
        counts["answer_rows"] = _copy(
            cur, "questionnaire_answers", ("student_id", "week", "item", "value"), answers()
        )
        counts["attendance_rows"] = _copy(
            cur,
            "attendance_weeks",
            (
                "student_id",
                "week",
                "scheduled_hours",
                "present_hours",
                "authorised_absence_hours",
                "unauthorised_absence_hours",
            ),
            attendance(),
        )
        pg.commit()
        pg.autocommit = True
        cur.execute("ANALYZE")
    counts["seconds"] = round(time.perf_counter() - started, 1)
    return counts


def _refuse_non_empty(url: str) -> None:
    from sqlalchemy import inspect, text

    from data.store import make_engine

    engine = make_engine(url)
    try:
        if "students" in inspect(engine).get_table_names():
            with engine.connect() as conn:
                if conn.execute(text("SELECT count(*) FROM students")).scalar_one():
                    raise SystemExit(f"refusing to fill {url}: it already holds students (give an empty one)")
    finally:
        engine.dispose()


@contextmanager
def bench_database(database_url: str | None, server_url: str) -> Iterator[str]:
    """``database_url`` when given (must be empty; left as it is afterwards), else a throwaway database."""
    if database_url is not None:
        _refuse_non_empty(database_url)
        yield database_url
        return
    with temporary_postgres(server_url) as url:
        yield url


# --- the SMTP sink (a process of its own: ``--smtp-sink PORT --sink-file PATH``) -----------------------


def run_sink(port: int, out: Path) -> int:
    """Accept every e-mail on ``port``; write one line per e-mail (recipient, answer token) to ``out``."""
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, Envelope, Session

    handle = out.open("a", encoding="utf-8")

    class Sink:
        async def handle_DATA(  # noqa: N802 - the name aiosmtpd calls
            self, server: SMTP, session: Session, envelope: Envelope
        ) -> str:
            raw = envelope.original_content or b""
            # Fast path: the token as it stands in the quoted-printable body; a token split by a soft
            # line break (a long public_url) is found by parsing the message.
            quick = _RAW_TOKEN.search(raw)
            if quick is not None:
                token = quick.group(1).decode("ascii")
            else:
                body = message_from_bytes(raw, policy=policy.default).get_body(("plain",))
                found = _TOKEN_IN_MAIL.search(body.get_content() if body is not None else "")
                token = found.group(1) if found else "-"
            for rcpt in envelope.rcpt_tos:
                handle.write(f"{rcpt}\t{token}\n")
            handle.flush()
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("READY", flush=True)
    stop.wait()
    controller.stop()
    handle.close()
    return 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_sink(out: Path) -> Iterator[int]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_rounds", "--smtp-sink", str(port), "--sink-file", str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "READY":
            raise RuntimeError("the SMTP sink did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def read_sink(out: Path) -> list[tuple[str, str]]:
    if not out.exists():
        return []
    return [
        (rcpt, token)
        for rcpt, token in (line.split("\t") for line in out.read_text(encoding="utf-8").splitlines())
    ]


# --- part B: opening a round for every team, and sending its invitations -------------------------------


def open_and_send(url: str, tmp: Path) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    from sqlalchemy import text

    from data.calendar import cached_school_calendar
    from data.store import make_engine
    from workflows.mailer import SmtpMailer, SmtpSettings
    from workflows.rounds import open_rounds, send_outbox

    engine = make_engine(url)
    try:
        started = time.perf_counter()
        with engine.begin() as conn:
            opened = open_rounds(
                conn,
                week=WEEK,
                teams=None,
                by="bench",
                now=datetime.now(UTC),
                link_days=7,
                base_url=BASE_URL,
                csv=False,
            )
        open_s = time.perf_counter() - started
        out = tmp / "sink.tsv"
        with smtp_sink(out) as port:
            mailer = SmtpMailer(
                SmtpSettings("127.0.0.1", port, False, None, None, 30.0, SENDER),
                "de school",
                cached_school_calendar(None),
            )
            step = max(1000, opened.queued // 10)
            marks = [0]

            def progress(handled: int) -> None:
                if handled - marks[0] >= step:
                    marks[0] = handled
                    print(f"  sent {handled:,} of {opened.queued:,}", file=sys.stderr, flush=True)

            started = time.perf_counter()
            sent = send_outbox(engine, mailer, base_url=BASE_URL, max_attempts=5, progress=progress)
            send_s = time.perf_counter() - started
        received = read_sink(out)
        with engine.connect() as conn:
            status = {
                str(r[0]): int(r[1])
                for r in conn.execute(text("SELECT status, count(*) FROM outbox_messages GROUP BY status"))
            }
            email_tokens = conn.execute(
                text("SELECT count(*) FROM link_tokens WHERE channel = 'email'")
            ).scalar_one()
        # The next week's round, once the store's statistics know the first round's rows (autovacuum's
        # ANALYZE, run here by hand): what every week after a school's first round costs. Left unsent.
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        started = time.perf_counter()
        with engine.begin() as conn:
            again = open_rounds(
                conn,
                week=WEEK + 1,
                teams=None,
                by="bench",
                now=datetime.now(UTC),
                link_days=7,
                base_url=BASE_URL,
                csv=False,
            )
        next_s = time.perf_counter() - started
    finally:
        engine.dispose()
    with_token = sum(1 for _, token in received if token != "-")
    result = {
        "students": opened.links,
        "teams": len(opened.opened),
        "links": opened.links,
        "queued": opened.queued,
        "without_address": opened.without_address,
        "open_s": round(open_s, 2),
        "open_links_per_s": round(opened.links / open_s),
        "sent": sent.sent,
        "send_failed": sent.failed,
        "send_errors": sent.errors[:5],
        "send_s": round(send_s, 2),
        "send_per_s": round(sent.sent / send_s, 1) if send_s else None,
        "sink_received": len(received),
        "sink_with_answer_token": with_token,
        "outbox_status": status,
        "email_tokens": int(email_tokens),
        "total_s": round(open_s + send_s, 2),
        "next_week_links": again.links,
        "next_week_queued": again.queued,
        "next_week_open_s": round(next_s, 2),
        "next_week_links_per_s": round(again.links / next_s),
    }
    result["delivered_ok"] = (
        sent.failed == 0
        and sent.sent == opened.queued
        and len(received) == sent.sent
        and with_token == sent.sent
        and status.get("sent") == opened.queued
        and int(email_tokens) == 2 * sent.sent
    )
    return result, received


# --- part A: the Monday peak ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    student: int
    get_ms: float
    get_status: int
    post_ms: float
    post_status: int
    ended: float
    error: str | None


@contextmanager
def service(url: str, tmp: Path, workers: int) -> Iterator[str]:
    """``vsv serve`` in a subprocess on a free port over the store at ``url``; yields its base URL."""
    import httpx

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VSV_")}
    env |= {
        "VSV_ENVIRONMENT": "test",
        "VSV_VAR_DIR": str(tmp / "var"),
        "VSV_DATABASE_URL": url,
        "VSV_LOAD_MODEL_ON_STARTUP": "false",
        "VSV_MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
        "VSV_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "VSV_HOST": "127.0.0.1",
        "VSV_PORT": str(port),
        "VSV_WORKERS": str(workers),
    }
    vsv = Path(sys.executable).with_name("vsv")
    command = [str(vsv)] if vsv.exists() else [sys.executable, "-m", "vroegsignaal.cli"]
    log: IO[str] = (tmp / "serve.log").open("w", encoding="utf-8")
    proc = subprocess.Popen([*command, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (tmp / "serve.log").read_text(encoding="utf-8")[-3000:]
                raise RuntimeError(f"the service did not start:\n{tail}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _form(codes: Sequence[str], help_code: str, wants_help: bool, rng: random.Random) -> dict[str, str]:
    """Every item answered 2..5 (no threshold alert), the help item yes or no."""
    form = {code: str(rng.randint(2, 5)) for code in codes if code != help_code}
    form[help_code] = "1" if wants_help else "0"
    return form


def _stats(times: Sequence[float]) -> dict[str, float]:
    ordered = sorted(times)
    if not ordered:
        return {"median_ms": float("nan"), "p95_ms": float("nan"), "max_ms": float("nan")}
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 1),
        "max_ms": round(ordered[-1], 1),
    }


def peak(
    url: str,
    tmp: Path,
    tokens: Sequence[str],
    warm_up: Sequence[str],
    *,
    concurrency: int,
    workers: int,
    pace_minutes: float,
) -> dict[str, Any]:
    import httpx
    from sqlalchemy import text

    from data.questionnaire import load_questionnaire
    from data.store import make_engine

    q = load_questionnaire()
    codes, help_code = q.all_codes, q.help_item.code
    rng = random.Random(2000)
    forms = [_form(codes, help_code, i % HELP_EVERY == 0, rng) for i in range(len(tokens))]
    said_yes = sum(1 for f in forms if f[help_code] == "1")
    offsets = sorted(rng.uniform(0, pace_minutes * 60) for _ in tokens) if pace_minutes > 0 else None
    with service(url, tmp, workers) as base:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        with httpx.Client(base_url=base, limits=limits, timeout=60, headers={"Origin": base}) as client:
            for token in warm_up:
                client.get(f"/v/{token}")
            client.get("/v/privacy")
            started = time.perf_counter()

            def visit(i: int) -> Visit:
                if offsets is not None:
                    time.sleep(max(0.0, started + offsets[i] - time.perf_counter()))
                path = f"/v/{tokens[i]}"
                get_ms = post_ms = float("nan")
                get_status = post_status = 0
                try:
                    t0 = time.perf_counter()
                    got = client.get(path)
                    get_ms, get_status = (time.perf_counter() - t0) * 1000, got.status_code
                    if get_status != 200:
                        raise RuntimeError(f"GET {get_status}")
                    t0 = time.perf_counter()
                    posted = client.post(path, data=forms[i])
                    post_ms, post_status = (time.perf_counter() - t0) * 1000, posted.status_code
                    if post_status != 200:
                        raise RuntimeError(f"POST {post_status}: {posted.text[:200]}")
                    error = None
                except Exception as exc:  # any failure is counted and reported, the run goes on
                    error = f"{type(exc).__name__}: {exc}"
                return Visit(i, get_ms, get_status, post_ms, post_status, time.perf_counter(), error)

            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                visits = list(pool.map(visit, range(len(tokens))))
            wall_s = max(v.ended for v in visits) - started
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            answered = conn.execute(
                text(
                    "SELECT count(*) FROM round_links l JOIN questionnaire_rounds r USING (round_id) "
                    "WHERE r.week = :w AND l.answered_at IS NOT NULL"
                ),
                {"w": WEEK},
            ).scalar_one()
            rows = conn.execute(
                text("SELECT count(*) FROM questionnaire_answers WHERE week = :w"), {"w": WEEK}
            ).scalar_one()
            alerts = conn.execute(
                text("SELECT count(*) FROM safeguarding_alerts WHERE week = :w"), {"w": WEEK}
            ).scalar_one()
            help_alerts = conn.execute(
                text("SELECT count(*) FROM safeguarding_alerts WHERE week = :w AND item = :i"),
                {"w": WEEK, "i": help_code},
            ).scalar_one()
            audited = conn.execute(
                text("SELECT count(*) FROM audit_log WHERE action = 'student_answers' AND week = :w"),
                {"w": WEEK},
            ).scalar_one()
    finally:
        engine.dispose()
    errors = [v for v in visits if v.error is not None]
    n = len(tokens)
    requests = sum(1 for v in visits if v.get_status) + sum(1 for v in visits if v.post_status)
    checks = {
        "links_answered": int(answered),
        "links_answered_expected": n,
        "answer_rows": int(rows),
        "answer_rows_expected": n * len(codes),
        "alerts": int(alerts),
        "help_alerts": int(help_alerts),
        "said_yes": said_yes,
        "audit_entries": int(audited),
    }
    stored_ok = (
        answered == n and rows == n * len(codes) and alerts == said_yes == help_alerts and audited == n
    )
    return {
        "students": n,
        "concurrency": concurrency,
        "workers": workers,
        "pace_minutes": pace_minutes,
        "items_per_submission": len(codes),
        "wall_s": round(wall_s, 1),
        "students_per_s": round(n / wall_s, 1),
        "requests_per_s": round(requests / wall_s, 1),
        "errors": len(errors),
        "error_examples": sorted({e.error for e in errors if e.error})[:5],
        "statuses": {
            "get": dict(Counter(str(v.get_status) for v in visits)),
            "post": dict(Counter(str(v.post_status) for v in visits)),
        },
        "get": {
            "requests": sum(1 for v in visits if v.get_status),
            **_stats([v.get_ms for v in visits if v.get_status == 200]),
        },
        "post": {
            "requests": sum(1 for v in visits if v.post_status),
            **_stats([v.post_ms for v in visits if v.post_status == 200]),
        },
        "store": checks,
        "stored_ok": bool(stored_ok),
    }


# --- the run --------------------------------------------------------------------------------------------


def _met(value: bool | None) -> str:
    return "not judged (smaller than the target)" if value is None else ("yes" if value else "no")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from data.questionnaire import load_questionnaire

    q = load_questionnaire()
    load_before = [round(x, 2) for x in os.getloadavg()]
    tmp = Path(tempfile.mkdtemp(prefix="vsv-bench-rounds-"))
    try:
        with bench_database(args.database_url, args.server_url) as url:
            print(f"filling the store with {args.students:,} students ...", file=sys.stderr, flush=True)
            store = fill_store(url, args.students, q.all_codes, q.help_item.code)
            print("opening the round for every team and sending ...", file=sys.stderr, flush=True)
            opening, received = open_and_send(url, tmp)
            mailed = sorted(token for _, token in received if token != "-")
            random.Random(7).shuffle(mailed)
            if len(mailed) < args.peak + WARM_UP:
                raise SystemExit(f"only {len(mailed)} e-mailed links for a peak of {args.peak}")
            print(f"Monday peak: {args.peak:,} students ...", file=sys.stderr, flush=True)
            monday = peak(
                url,
                tmp,
                mailed[: args.peak],
                mailed[args.peak : args.peak + WARM_UP],
                concurrency=args.concurrency,
                workers=args.workers,
                pace_minutes=args.pace_minutes,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    full_open = args.students >= TARGET_OPEN_STUDENTS
    full_peak = args.peak >= TARGET_PEAK_STUDENTS
    open_ok = opening["open_s"] < TARGET_OPEN_SECONDS and opening["delivered_ok"]
    peak_ok = (
        monday["errors"] == 0
        and monday["stored_ok"]
        and monday["wall_s"] < TARGET_PEAK_SECONDS
        and monday["get"]["p95_ms"] < TARGET_P95_MS
        and monday["post"]["p95_ms"] < TARGET_P95_MS
    )
    load = monday["students_per_s"] / (TARGET_PEAK_STUDENTS / TARGET_PEAK_SECONDS)
    monday["load_vs_target_rate"] = round(load, 1)
    peak_met = _met(peak_ok if full_peak else None)
    if full_peak and not peak_ok and load > 1.5:
        peak_met += (
            f" at {load:.1f}x the target's mean arrival rate (--pace-minutes 9 gives the target's own load)"
        )
    targets = [
        {
            "target": f"open a round for {TARGET_OPEN_STUDENTS:,} students (links + queue) < "
            f"{TARGET_OPEN_SECONDS:.0f} s",
            "measured": f"first round: {opening['links']:,} links, {opening['queued']:,} queued in "
            f"{opening['open_s']} s (next week's: {opening['next_week_open_s']} s); all delivered to the "
            f"sink: {'yes' if opening['delivered_ok'] else 'NO'}",
            "met": _met(open_ok if full_open else None),
        },
        {
            "target": "  beside it: open + send all invitations to the SMTP sink < "
            f"{TARGET_OPEN_SECONDS:.0f} s",
            "measured": f"{opening['sent']:,} sent in {opening['send_s']} s ({opening['send_per_s']}/s); "
            f"open + send {opening['total_s']} s",
            "met": _met(
                (opening["delivered_ok"] and opening["total_s"] < TARGET_OPEN_SECONDS) if full_open else None
            ),
        },
        {
            "target": f"Monday peak: {TARGET_PEAK_STUDENTS:,} students within "
            f"{TARGET_PEAK_SECONDS / 60:.0f} min, 0 errors, p95 GET and POST < {TARGET_P95_MS:.0f} ms",
            "measured": f"{monday['students']:,} in {monday['wall_s']} s, {monday['errors']} errors, "
            f"p95 GET {monday['get']['p95_ms']} ms, POST {monday['post']['p95_ms']} ms; store "
            f"{'as expected' if monday['stored_ok'] else 'NOT as expected'}",
            "met": peak_met,
        },
    ]
    return {
        "week": WEEK,
        "quick": args.quick,
        "load_average_1_5_15min": {"start": load_before, "end": [round(x, 2) for x in os.getloadavg()]},
        "targets": {
            "open_students": TARGET_OPEN_STUDENTS,
            "open_seconds": TARGET_OPEN_SECONDS,
            "peak_students": TARGET_PEAK_STUDENTS,
            "peak_seconds": TARGET_PEAK_SECONDS,
            "p95_ms": TARGET_P95_MS,
        },
        "store": store,
        "round_opening": opening,
        "monday_peak": monday,
        "verdicts": targets,
        "open_target_met": open_ok if full_open else None,
        "peak_target_met": peak_ok if full_peak else None,
        "ok": open_ok and peak_ok,
    }


def report(result: dict[str, Any]) -> None:
    store = result["store"]
    print_table(
        "The store (PostgreSQL, filled with COPY)",
        [store],
        ["students", "teams", "with_email", "answer_rows", "attendance_rows", "seconds"],
    )
    o = result["round_opening"]
    print_table(
        f"Round of week {result['week']} for every team: opening, then sending to a local SMTP sink",
        [
            {
                "step": "open: links + invitations queued (1 transaction, first round)",
                "count": f"{o['links']:,} links, {o['queued']:,} queued",
                "seconds": o["open_s"],
                "per_s": o["open_links_per_s"],
            },
            {
                "step": "send: send_outbox over SMTP (batches of 200)",
                "count": f"{o['sent']:,} sent, {o['send_failed']} failed, sink got {o['sink_received']:,}",
                "seconds": o["send_s"],
                "per_s": o["send_per_s"],
            },
            {"step": "open + send", "count": "", "seconds": o["total_s"], "per_s": ""},
            {
                "step": "open the next week's round (store analyzed; not sent)",
                "count": f"{o['next_week_links']:,} links, {o['next_week_queued']:,} queued",
                "seconds": o["next_week_open_s"],
                "per_s": o["next_week_links_per_s"],
            },
        ],
        ["step", "count", "seconds", "per_s"],
    )
    m = result["monday_peak"]
    pace = f"spread over {m['pace_minutes']} min" if m["pace_minutes"] else "as fast as possible"
    print_table(
        f"Monday peak: {m['students']:,} students, {m['concurrency']} at a time ({pace}), "
        f"{m['workers']} service worker(s); client-side latency",
        [{"request": kind.upper(), **m[kind]} for kind in ("get", "post")],
        ["request", "requests", "median_ms", "p95_ms", "max_ms"],
    )
    s = m["store"]
    print_table(
        "Monday peak: throughput, errors and the store afterwards",
        [
            {
                "wall_s": m["wall_s"],
                "students/s": m["students_per_s"],
                "requests/s": m["requests_per_s"],
                "errors": m["errors"],
                "answered": f"{s['links_answered']:,}/{s['links_answered_expected']:,}",
                "answer_rows": f"{s['answer_rows']:,}/{s['answer_rows_expected']:,}",
                "alerts": f"{s['alerts']} (said yes: {s['said_yes']})",
                "audit": s["audit_entries"],
            }
        ],
        ["wall_s", "students/s", "requests/s", "errors", "answered", "answer_rows", "alerts", "audit"],
    )
    if m["error_examples"]:
        print("errors, e.g.: " + "; ".join(m["error_examples"]))
    load = result["load_average_1_5_15min"]
    print(f"\nmachine load average (1, 5, 15 min) at start {load['start']}, at end {load['end']}")
    print_table("Targets", result["verdicts"], ["target", "measured", "met"])
    for verdict in result["verdicts"]:
        print(f"target met: {verdict['met']} - {verdict['target'].strip()}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=TARGET_OPEN_STUDENTS)
    parser.add_argument("--peak", type=int, default=TARGET_PEAK_STUDENTS, help="students in the Monday peak")
    parser.add_argument("--concurrency", type=int, default=16, help="students submitting at the same time")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of the service")
    parser.add_argument(
        "--pace-minutes",
        type=float,
        default=0.0,
        help="spread the peak's arrivals over this long (0: flat out)",
    )
    parser.add_argument("--database-url", default=None, help="an existing, empty PostgreSQL database to use")
    parser.add_argument("--server-url", default=SERVER_URL, help="where the throwaway database is created")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3,000 students, a peak of 200")
    parser.add_argument("--smtp-sink", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--sink-file", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smtp_sink is not None:
        assert args.sink_file is not None
        return run_sink(args.smtp_sink, args.sink_file)
    if args.quick:
        args.students, args.peak = 3_000, 200
    result = run(args)
    report(result)
    name = "rounds-quick" if args.quick else ("rounds-paced" if args.pace_minutes > 0 else "rounds")
    path = write_json(name, result)
    print(f"written: {path}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
