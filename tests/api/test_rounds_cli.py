"""`vsv rounds open/send/status`: the CSV of links written whole and private, idempotent opening, the
outbox waiting while no SMTP server is set, and a clear refusal for an unknown team."""

from __future__ import annotations

import csv
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from data.store import make_engine, upgrade
from settings import get_settings
from tests.api.conftest import load_school
from tests.conftest import School
from vroegsignaal.cli import app
from vroegsignaal.round_commands import LINK_COLUMNS

WEEK = 30


@pytest.fixture
def env(tmp_path: Path, school: School, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'vsv.db'}"
    engine = make_engine(url)
    upgrade(engine)
    load_school(engine, school, WEEK - 1, WEEK)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO identities (student_id, student_number, given_name, family_name, email) "
                "SELECT student_id, 'N' || student_id, 'Noor', 'Bakker', student_id || '@student.example' "
                "FROM students"
            )
        )
    monkeypatch.setenv("VSV_DATABASE_URL", url)
    monkeypatch.setenv("VSV_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("VSV_SMTP_HOST", raising=False)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def _team(env: str) -> tuple[str, int]:
    with make_engine(env).connect() as conn:
        row = conn.execute(
            text(
                "SELECT team, COUNT(*) AS n FROM students s WHERE start_week <= :w AND NOT EXISTS "
                "(SELECT 1 FROM outcomes o WHERE o.student_id = s.student_id AND o.week <= :w) "
                "GROUP BY team ORDER BY n DESC, team LIMIT 1"
            ),
            {"w": WEEK},
        ).one()
    return str(row.team), int(row.n)


def test_rounds_open_writes_the_links_once_and_the_outbox_waits_without_smtp(
    env: str, tmp_path: Path
) -> None:
    team, enrolled = _team(env)
    out = tmp_path / "rondes" / "links.csv"
    runner = CliRunner()
    first = runner.invoke(app, ["rounds", "open", "--week", str(WEEK), "--team", team, "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert f"opened 1 round(s) with {enrolled} links" in first.output
    assert f"{enrolled} e-mail(s) wait in the outbox: VSV_SMTP_HOST is not set" in first.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert tuple(rows[0]) == LINK_COLUMNS and len(rows) == enrolled
    assert all(r["answer_url"].startswith("http://127.0.0.1:8000/v/") for r in rows)
    assert len({r["answer_url"] for r in rows} | {r["view_url"] for r in rows}) == 2 * enrolled
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and not out.with_name("links.csv.partial").exists()
    again = runner.invoke(app, ["rounds", "open", "--week", str(WEEK), "--team", team, "--out", str(out)])
    assert again.exit_code == 0 and f"already open (left as they were): {team}" in again.output
    assert (
        "no new links" in again.output and len(list(csv.DictReader(out.open(encoding="utf-8")))) == enrolled
    )
    status = runner.invoke(app, ["rounds", "status", "--week", str(WEEK)])
    assert status.exit_code == 0 and team in status.output
    line = next(x for x in status.output.splitlines() if team in x).split()
    # links, sent (the CSV counts as handed out), opened, answered (rate), reminded, waiting, failed
    n = str(enrolled)
    assert line[-8:] == [n, n, "0", "0", "(0%)", "0", n, "0"]
    with make_engine(env).connect() as conn:
        audit = conn.execute(text("SELECT action, team FROM audit_log ORDER BY seq")).all()
        waiting = conn.execute(
            text("SELECT COUNT(*) FROM outbox_messages WHERE status = 'queued'")
        ).scalar_one()
    assert [a.action for a in audit] == ["round_open", "export_links"] and audit[0].team == team
    assert waiting == enrolled


def test_rounds_open_refuses_an_unknown_team(env: str) -> None:
    result = CliRunner().invoke(app, ["rounds", "open", "--week", str(WEEK), "--team", "GEEN-TEAM"])
    assert result.exit_code == 2 and "no enrolled students in week" in result.output


def test_rounds_send_delivers_the_outbox_over_smtp(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiosmtpd.controller import Controller

    from tests.api.test_rounds import Sink, socket_closed

    team, enrolled = _team(env)
    runner = CliRunner()
    assert runner.invoke(app, ["rounds", "open", "--week", str(WEEK), "--team", team]).exit_code == 0
    sink = Sink()
    with socket_closed() as port:
        pass
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.setenv("VSV_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("VSV_SMTP_PORT", str(port))
        get_settings.cache_clear()
        sent = runner.invoke(app, ["rounds", "send"])
        again = runner.invoke(app, ["rounds", "send"])
    finally:
        controller.stop()
    assert sent.exit_code == 0 and f"sent {enrolled}, failed 0" in sent.output
    assert len(sink.messages) == enrolled and "no e-mails to send" in again.output
