"""Questionnaire rounds and the students' pages, on SQLite and PostgreSQL: opening a round (idempotent),
the questionnaire at /v/<token> (stored through the import's validation, one submission per link, the
zorgmelding in the same request), bad tokens and bad answers, the own view and its reactions, e-mail through
a real local SMTP server (also when it is down), reminders, and the response per team."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, text

from data.questionnaire import load_questionnaire
from data.store import latest_week
from tests.api.conftest import WEEK, Api
from workflows.mailer import SmtpMailer, SmtpSettings
from workflows.rounds import (
    AlreadyAnsweredError,
    IssuedLink,
    open_rounds,
    queue_reminders,
    resolve,
    send_outbox,
    submit_answers,
)

Q = load_questionnaire()
BASE = "http://testserver"
ANY = "any team"  # the pool of links of teams no test looks at by team
LINK = re.compile(r"http://testserver(/v/[A-Za-z0-9_-]{43})")


def _path(url: str) -> str:
    return url.removeprefix(BASE)


def _form(value: int = 3, help_value: int = 0) -> dict[str, str]:
    return {**{code: str(value) for code in Q.item_codes}, Q.help_item.code: str(help_value)}


def _open(engine: Engine, team: str, week: int = WEEK, now: datetime | None = None) -> list[IssuedLink]:
    with engine.begin() as conn:
        report = open_rounds(
            conn,
            week=week,
            teams=[team],
            by="test",
            now=now or datetime.now(UTC),
            link_days=7,
            base_url=BASE,
            csv=True,
        )
    return list(report.issued)


@dataclass
class Links:
    """The issued links of a module's rounds, handed out once each."""

    issued: dict[str, list[IssuedLink]] = field(default_factory=dict)

    def take(self, team: str, *, help_free: Engine | None = None) -> IssuedLink:
        """A fresh link of ``team`` (with ``help_free``: of a student without an open help alert)."""
        pool = self.issued[team]
        for i, link in enumerate(pool):
            if help_free is not None and _has_open_help_alert(help_free, link.student_id):
                continue
            return pool.pop(i)
        raise AssertionError(f"no fresh link left in team {team}")


def _has_open_help_alert(engine: Engine, student_id: str) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT COUNT(*) FROM safeguarding_alerts WHERE student_id = :s AND item = :i "
                    "AND status <> 'gesloten'"
                ),
                {"s": student_id, "i": Q.help_item.code},
            ).scalar_one()
        )


@pytest.fixture(scope="module")
def links(api: Api) -> Links:
    """Rounds in WEEK: the mentor's team (students on the list last, so that the own-view test still finds
    one) and a pool of other teams (:data:`ANY`), with their CSV of links."""
    issued = _open(api.engine, api.mentor_team)
    flagged = _flagged_ids(api.engine)
    general = [link for team in _teams(api)[5:12] for link in _open(api.engine, team)]
    return Links({api.mentor_team: sorted(issued, key=lambda i: i.student_id in flagged), ANY: general})


def _answers(engine: Engine, student: str, week: int) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT item, value FROM questionnaire_answers WHERE student_id = :s AND week = :w"),
            {"s": student, "w": week},
        ).all()
    return {str(r.item): int(r.value) for r in rows}


def _scalar(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


# --- opening ---------------------------------------------------------------------------------------------


def test_opening_a_round_twice_changes_nothing(api: Api, links: Links) -> None:
    enrolled = _scalar(
        api.engine,
        "SELECT COUNT(*) FROM students s WHERE s.team = :t AND s.start_week <= :w AND NOT EXISTS "
        "(SELECT 1 FROM outcomes o WHERE o.student_id = s.student_id AND o.week <= :w)",
        t=api.mentor_team,
        w=WEEK,
    )
    assert len(links.issued[api.mentor_team]) == enrolled > 0
    before = _scalar(api.engine, "SELECT COUNT(*) FROM link_tokens")
    with api.engine.begin() as conn:
        again = open_rounds(
            conn,
            week=WEEK,
            teams=[api.mentor_team],
            by="x",
            now=datetime.now(UTC),
            link_days=7,
            base_url=BASE,
            csv=True,
        )
    assert again.opened == () and again.already_open == (api.mentor_team,) and again.issued == ()
    assert _scalar(api.engine, "SELECT COUNT(*) FROM link_tokens") == before
    with api.engine.begin() as conn, pytest.raises(ValueError, match="no enrolled students"):
        open_rounds(
            conn, week=WEEK, teams=["GEEN-TEAM"], by="x", now=datetime.now(UTC), link_days=7, base_url=BASE
        )


# --- the questionnaire -----------------------------------------------------------------------------------


def test_the_page_asks_every_item_and_shows_no_score(api: Api, links: Links) -> None:
    link = links.take(ANY)
    page = api.client.get(_path(link.answer_url))
    assert page.status_code == 200
    for item in Q.items:
        assert item.text in page.text and f'name="{item.code}"' in page.text
    assert f'name="{Q.help_item.code}"' in page.text
    assert "%" not in page.text and "kans" not in page.text.lower()
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in re.sub(
        r'href="/[^"]*"', "", page.text.split("<body>", 1)[1]
    )  # nothing from elsewhere
    assert (
        _scalar(
            api.engine,
            "SELECT COUNT(*) FROM round_links WHERE opened_at IS NOT NULL AND student_id = :s",
            s=link.student_id,
        )
        == 1
    )


def test_a_submission_is_stored_once_and_audited_without_the_token(api: Api, links: Links) -> None:
    link = links.take(ANY)
    form = {**_form(4), Q.item_codes[0]: "2"}
    done = api.client.post(_path(link.answer_url), data=form)
    assert done.status_code == 200 and "Bedankt" in done.text
    assert _answers(api.engine, link.student_id, WEEK) == {k: int(v) for k, v in form.items()}
    again = api.client.post(_path(link.answer_url), data=_form(1))
    assert again.status_code == 409 and "al ingevuld" in again.text
    assert api.client.get(_path(link.answer_url)).status_code == 409
    assert _answers(api.engine, link.student_id, WEEK)[Q.item_codes[1]] == 4  # unchanged
    with api.engine.connect() as conn:
        entry = conn.execute(
            text(
                "SELECT user_name, role, path FROM audit_log "
                "WHERE student_id = :s AND action = 'student_answers'"
            ),
            {"s": link.student_id},
        ).one()
    token = link.answer_url.rsplit("/", 1)[1]
    assert entry.role == "student" and entry.path == "/v/…" and token not in entry.path


def test_asking_for_help_raises_the_zorgmelding_in_the_same_request(api: Api, links: Links) -> None:
    link = links.take(ANY, help_free=api.engine)
    done = api.client.post(_path(link.answer_url), data=_form(3, help_value=1))
    assert done.status_code == 200
    assert "neemt" in done.text and "iemand van het zorgteam" in done.text and "113" in done.text
    assert _has_open_help_alert(api.engine, link.student_id)
    queue = api.client.get(
        "/api/v1/safeguarding/queue", headers=api.headers("zorgteam"), params={"student": link.student_id}
    )
    assert queue.status_code == 200 and any(
        a["student_id"] == link.student_id for a in queue.json()["alerts"]
    )


def test_a_live_answer_raises_its_alert_even_outside_the_recency_window(api: Api) -> None:
    """A round of an older week (a late round): the student's answer is given now, never history."""
    old_week = WEEK - 6
    team = _third_team(api)
    issued = _open(api.engine, team, week=old_week)
    link = next(i for i in issued if not _has_open_help_alert(api.engine, i.student_id))
    assert (latest_week(api.engine) or 0) - old_week >= 2  # outside the window of an import
    assert api.client.post(_path(link.answer_url), data=_form(3, help_value=1)).status_code == 200
    with api.engine.connect() as conn:
        weeks = (
            conn.execute(
                text(
                    "SELECT week FROM safeguarding_alerts "
                    "WHERE student_id = :s AND item = :i AND status <> 'gesloten'"
                ),
                {"s": link.student_id, "i": Q.help_item.code},
            )
            .scalars()
            .all()
        )
    assert weeks == [old_week]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drop": Q.item_codes[2]}, "Kies een antwoord."),
        ({Q.item_codes[0]: "7"}, "Kies een antwoord van 1 tot 5."),
        ({Q.item_codes[0]: "drie"}, "Kies een antwoord van 1 tot 5."),
        ({Q.help_item.code: "2"}, "Kies ja of nee."),
        ({"drop": Q.help_item.code}, "Kies ja of nee."),
    ],
)
def test_bad_answers_are_refused_whole_with_a_dutch_message(
    api: Api, links: Links, change: dict[str, str], message: str
) -> None:
    link = links.take(ANY)
    before = _answers(api.engine, link.student_id, WEEK)
    form = _form(3)
    for key, value in change.items():
        if key == "drop":
            form.pop(value)
        else:
            form[key] = value
    refused = api.client.post(_path(link.answer_url), data=form)
    assert (
        refused.status_code == 422
        and message in refused.text
        and "Nog niet alles is ingevuld" in refused.text
    )
    kept = next(k for k, v in form.items() if v == "3")
    assert re.search(rf'name="{kept}" value="3" required checked', refused.text)  # the choices are kept
    assert _answers(api.engine, link.student_id, WEEK) == before
    assert (
        _scalar(
            api.engine,
            "SELECT COUNT(*) FROM round_links WHERE answered_at IS NOT NULL AND student_id = :s "
            "AND round_id IN (SELECT round_id FROM questionnaire_rounds WHERE week = :w)",
            s=link.student_id,
            w=WEEK,
        )
        == 0
    )


def test_bad_tokens_all_get_the_same_page(api: Api, links: Links) -> None:
    link = links.take(ANY)
    forged = "/v/" + secrets.token_urlsafe(32)
    pages = [api.client.get(p) for p in (forged, "/v/kort", "/v/" + "x" * 500, "/v/..%2F..%2Fetc")]
    expired_team = _fourth_team(api)
    expired = _open(api.engine, expired_team, now=datetime.now(UTC) - timedelta(days=8))[0]
    before = _answers(api.engine, expired.student_id, WEEK)
    pages.append(api.client.get(_path(expired.answer_url)))
    pages.append(api.client.post(_path(expired.answer_url), data=_form(1)))
    assert {p.status_code for p in pages} == {404}
    bodies = {p.text for p in pages}
    assert len(bodies) == 1 and "Deze link werkt niet" in bodies.pop()
    assert _answers(api.engine, expired.student_id, WEEK) == before
    assert api.client.get(_path(link.answer_url)).status_code == 200  # a valid one still works


def test_a_body_larger_than_a_questionnaire_is_refused(api: Api, links: Links) -> None:
    link = links.take(ANY)
    big = api.client.post(_path(link.answer_url), data={**_form(), "extra": "x" * 20_000})
    assert big.status_code == 413 and "Te veel tekst" in big.text
    assert api.client.post(_path(link.answer_url), data={**_form(), "extra": "a\x00b"}).status_code == 422
    assert api.client.post(_path(link.answer_url), data=_form()).status_code == 200


def test_a_double_submit_race_stores_one_submission(api: Api, links: Links) -> None:
    link = links.take(ANY)
    token = link.answer_url.rsplit("/", 1)[1]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def submit(value: int) -> None:
        barrier.wait()
        try:
            with api.engine.begin() as conn:
                found = resolve(conn, token, datetime.now(UTC))
                assert found is not None
                submit_answers(
                    conn, Q, found, _form(value), window_weeks=2, pseudonym_key="k", now=datetime.now(UTC)
                )
            outcomes.append("stored")
        except AlreadyAnsweredError:
            outcomes.append("refused")

    threads = [threading.Thread(target=submit, args=(v,)) for v in (2, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["refused", "stored"]
    values = set(_answers(api.engine, link.student_id, WEEK).values())
    assert values in ({2, 0}, {4, 0})  # one submission whole, never a mix


# --- the own view ----------------------------------------------------------------------------------------


def _flagged_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                text("SELECT student_id FROM scores WHERE week = :w AND band IN ('verhoogd', 'hoog')"),
                {"w": WEEK},
            ).scalars()
        )


def _flagged(api: Api, issued: list[IssuedLink]) -> IssuedLink:
    flagged = _flagged_ids(api.engine)
    return next(i for i in reversed(issued) if i.student_id in flagged)


def test_the_own_view_shows_the_mentors_reasons_and_no_score(api: Api, links: Links) -> None:
    link = _flagged(api, links.issued[api.mentor_team])
    links.issued[api.mentor_team].remove(link)
    page = api.client.get(_path(link.view_url))
    assert page.status_code == 200 and "Wat de school over jou bijhoudt" in page.text
    mentor = api.client.get(
        f"/api/v1/students/{link.student_id}/scores/{WEEK}", headers=api.headers("mentor")
    )
    assert mentor.status_code == 200
    reasons = [r["text"] for r in mentor.json()["reasons"]]
    assert reasons and all(r in page.text for r in reasons)
    assert "Ja. Je mentor kijkt" in page.text
    probability = f"{mentor.json()['probability']:.1%}".replace(".", ",")
    assert probability not in page.text and "verhoogd" not in page.text and "hoog</strong>" not in page.text
    assert "beslist niets" in page.text
    with api.engine.connect() as conn:
        viewed = conn.execute(
            text("SELECT COUNT(*) FROM audit_log WHERE student_id = :s AND action = 'student_own_view'"),
            {"s": link.student_id},
        ).scalar_one()
    assert viewed == 1


def test_a_reaction_reaches_the_mentors_follow_ups(api: Api, links: Links) -> None:
    # The test school holds its future outcomes too; a student with one has no follow-ups left.
    with api.engine.connect() as conn:
        left = set(conn.execute(text("SELECT student_id FROM outcomes")).scalars())
    link = next(i for i in links.issued[api.mentor_team] if i.student_id not in left)
    links.issued[api.mentor_team].remove(link)
    refused = api.client.post(_path(link.view_url), data={"soort": "klopt_niet", "reactie": "   "})
    assert refused.status_code == 422 and "Schrijf eerst" in refused.text
    done = api.client.post(
        _path(link.view_url), data={"soort": "klopt_niet", "reactie": "Ik was ziek, met briefje."}
    )
    assert done.status_code == 200 and "Dank je" in done.text and "Ik was ziek, met briefje." in done.text
    follow = api.client.get("/api/v1/follow-ups", headers=api.headers("mentor"))
    assert follow.status_code == 200
    mine = [f for f in follow.json()["items"] if f["action"]["student_id"] == link.student_id]
    assert [f["action"]["action"] for f in mine] == ["student_contest"]
    assert mine[0]["action"]["note"] == "Ik was ziek, met briefje."
    other = api.client.get("/api/v1/follow-ups", headers=api.headers("mentor2")).json()["items"]
    assert all(f["action"]["student_id"] != link.student_id for f in other)  # only the student's own mentor
    zorg = api.client.get("/api/v1/follow-ups", headers=api.headers("zorgteam")).json()["items"]
    assert any(f["action"]["student_id"] == link.student_id for f in zorg)
    before = _answers(api.engine, link.student_id, WEEK)
    # the view token cannot answer the questionnaire, the answer token cannot react
    assert "Wat de school" in api.client.post(_path(link.view_url), data=_form()).text
    assert _scalar(api.engine, "SELECT COUNT(*) FROM actions WHERE student_id = :s", s=link.student_id) == 1
    assert _answers(api.engine, link.student_id, WEEK) == before


def test_the_privacy_notice_is_linked_from_every_student_page(api: Api, links: Links) -> None:
    link = links.take(ANY)
    notice = api.client.get("/v/privacy")
    assert notice.status_code == 200 and "Privacy" in notice.text and "<script" not in notice.text
    for url in (link.answer_url, link.view_url, BASE + "/v/" + secrets.token_urlsafe(32)):
        assert 'href="/v/privacy"' in api.client.get(_path(url)).text


# --- e-mail ----------------------------------------------------------------------------------------------


class Sink:
    """aiosmtpd handler that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_RCPT(  # noqa: N802
        self, server: object, session: object, envelope: object, address: str, rcpt_options: object
    ) -> str:
        if address.startswith("weiger"):
            return "550 mailbox unavailable"
        envelope.rcpt_tos.append(address)  # type: ignore[attr-defined]
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    with socket_closed() as port:
        pass
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def _mailer(port: int) -> SmtpMailer:
    from data.calendar import cached_school_calendar

    settings = SmtpSettings("127.0.0.1", port, False, None, None, 5.0, "Vroegsignaal <vs@school.example>")
    return SmtpMailer(settings, "ROC Test", cached_school_calendar(None))


def _third_team(api: Api) -> str:
    return _teams(api)[2]


def _fourth_team(api: Api) -> str:
    return _teams(api)[3]


def _fifth_team(api: Api) -> str:
    return _teams(api)[4]


def _teams(api: Api) -> list[str]:
    with api.engine.connect() as conn:
        return [
            str(t)
            for t in conn.execute(
                text("SELECT team FROM scores WHERE week = :w GROUP BY team ORDER BY COUNT(*) DESC, team"),
                {"w": WEEK},
            ).scalars()
        ]


def _with_addresses(api: Api, team: str) -> list[str]:
    with api.engine.begin() as conn:
        students = [
            str(s)
            for s in conn.execute(
                text("SELECT student_id FROM students WHERE team = :t ORDER BY student_id"), {"t": team}
            ).scalars()
        ]
        known = set(conn.execute(text("SELECT student_id FROM identities")).scalars())
        for i, s in enumerate(students):
            if s in known:
                continue
            conn.execute(
                text(
                    "INSERT INTO identities (student_id, student_number, given_name, family_name, email) "
                    "VALUES (:s, :n, 'Sanne', 'de Vries', :e)"
                ),
                {"s": s, "n": f"T{i}", "e": f"s{i}@student.example"},
            )
    return students


def test_invitations_go_out_over_smtp_and_survive_a_server_that_is_down(
    api: Api, smtp: tuple[Sink, int]
) -> None:
    sink, port = smtp
    team = _fifth_team(api)
    _with_addresses(api, team)
    with api.engine.begin() as conn:
        report = open_rounds(
            conn, week=WEEK, teams=[team], by="test", now=datetime.now(UTC), link_days=7, base_url=BASE
        )
    assert report.queued == report.links > 0 and report.issued == ()
    with socket_closed() as dead_port:
        down = send_outbox(api.engine, _mailer(dead_port), base_url=BASE, max_attempts=5)
    assert down.sent == 0 and down.failed > 0 and "SMTP-verbinding mislukt" in down.errors[0]
    with api.engine.connect() as conn:
        states = conn.execute(
            text(
                "SELECT o.status, o.attempts, o.last_error FROM outbox_messages o JOIN round_links l "
                "ON l.link_id = o.link_id JOIN questionnaire_rounds r ON r.round_id = l.round_id "
                "WHERE r.team = :t AND r.week = :w"
            ),
            {"t": team, "w": WEEK},
        ).all()
    assert {(s.status, s.attempts) for s in states} <= {("failed", 1), ("queued", 0)}
    assert any(s.status == "failed" and "SMTP" in s.last_error for s in states)
    up = send_outbox(api.engine, _mailer(port), base_url=BASE, max_attempts=5)
    assert up.failed == 0 and up.sent == report.links == len(sink.messages)
    mail = sink.messages[0]
    assert mail["Subject"] == "Hoe gaat het met je deze week?" and mail["To"].endswith("@student.example")
    body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    answer, view = LINK.findall(body)
    assert "Hoi Sanne" in body and "ROC Test" in body
    assert api.client.get(answer).status_code == 200 and "Hoe gaat het met je?" in api.client.get(answer).text
    assert "Wat de school over jou bijhoudt" in api.client.get(view).text
    assert send_outbox(api.engine, _mailer(port), base_url=BASE, max_attempts=5).sent == 0  # nothing twice
    responses = api.client.get(
        "/api/v1/rounds", headers=api.headers("datateam"), params={"week": WEEK, "team": team}
    )
    row = responses.json()[0]
    assert (row["students"], row["sent"], row["waiting"], row["failed"]) == (report.links, report.links, 0, 0)
    assert row["opened"] == 1  # the link opened above

    # One reminder, a few days on, for those who have not answered (once, never twice).
    assert api.client.post(answer, data=_form()).status_code == 200
    later = datetime.now(UTC) + timedelta(days=4)
    with api.engine.begin() as conn:
        assert queue_reminders(conn, now=datetime.now(UTC), after_days=3) == 0  # too early
        reminders = queue_reminders(conn, now=later, after_days=3)
        assert queue_reminders(conn, now=later, after_days=3) == 0
    assert reminders == report.links - 1
    before = len(sink.messages)
    assert (
        send_outbox(api.engine, _mailer(port), base_url=BASE, max_attempts=5, now=lambda: later).sent
        == reminders
    )
    assert len(sink.messages) - before == reminders and sink.messages[-1]["Subject"].startswith("Herinnering")
    row = api.client.get(
        "/api/v1/rounds", headers=api.headers("datateam"), params={"week": WEEK, "team": team}
    ).json()[0]
    assert (row["answered"], row["reminded"]) == (1, reminders)


class socket_closed:  # noqa: N801 - used as a context manager
    """A port on which nothing listens."""

    def __enter__(self) -> int:
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = int(s.getsockname()[1])
        s.close()
        return self.port

    def __exit__(self, *_: object) -> None:
        return None


def test_mentors_see_the_response_of_their_own_teams_only(api: Api, links: Links) -> None:
    mine = api.client.get("/api/v1/rounds", headers=api.headers("mentor"))
    assert mine.status_code == 200 and {r["team"] for r in mine.json()} == {api.mentor_team}
    assert (
        api.client.get(
            "/api/v1/rounds", headers=api.headers("mentor"), params={"team": api.other_team}
        ).status_code
        == 403
    )
    everyone = api.client.get("/api/v1/rounds", headers=api.headers("datateam")).json()
    assert api.mentor_team in {r["team"] for r in everyone}
    mentor_row = next(r for r in everyone if r["team"] == api.mentor_team and r["week"] == WEEK)
    answered = _scalar(
        api.engine,
        "SELECT COUNT(*) FROM round_links l JOIN questionnaire_rounds r ON r.round_id = l.round_id "
        "WHERE r.team = :t AND r.week = :w AND l.answered_at IS NOT NULL",
        t=api.mentor_team,
        w=WEEK,
    )
    assert mentor_row["answered"] == answered


def test_an_earlier_call_for_help_is_named_as_such(api: Api) -> None:
    team = _teams(api)[13]
    first = {i.student_id: i for i in _open(api.engine, team, week=WEEK - 8)}
    second = {i.student_id: i for i in _open(api.engine, team, week=WEEK - 9)}
    student = next(s for s in first if not _has_open_help_alert(api.engine, s))
    asked = api.client.post(_path(first[student].answer_url), data=_form(3, help_value=1))
    assert "Uit je antwoorden blijkt" in asked.text
    later = api.client.post(_path(second[student].answer_url), data=_form(3, help_value=0))
    assert later.status_code == 200
    assert "Je vroeg eerder om hulp" in later.text and "Uit je antwoorden blijkt" not in later.text
    with api.engine.connect() as conn:
        alerted = set(
            conn.execute(
                text("SELECT student_id FROM safeguarding_alerts WHERE status <> 'gesloten'")
            ).scalars()
        )
    calm = next(s for s in second if s not in alerted)
    plain = api.client.post(_path(second[calm].answer_url), data=_form(3, help_value=0))
    assert "Je hoort van ons" not in plain.text and "Bedankt" in plain.text


def test_an_email_not_yet_sent_when_the_student_answers_is_cancelled(
    api: Api, smtp: tuple[Sink, int]
) -> None:
    sink, port = smtp
    team = _teams(api)[14]
    _with_addresses(api, team)
    issued = _open(api.engine, team)  # the CSV of links, and invitations queued for e-mail
    assert api.client.post(_path(issued[0].answer_url), data=_form()).status_code == 200
    report = send_outbox(api.engine, _mailer(port), base_url=BASE, max_attempts=5)
    to = {m["To"] for m in sink.messages}
    assert report.sent == len(issued) - 1 and len(to) == len(issued) - 1
    row = api.client.get(
        "/api/v1/rounds", headers=api.headers("datateam"), params={"week": WEEK, "team": team}
    ).json()[0]
    assert (row["answered"], row["waiting"], row["failed"]) == (1, 0, 0)


def test_a_refused_address_is_tried_once_per_run_and_recorded(api: Api, smtp: tuple[Sink, int]) -> None:
    sink, port = smtp
    team = _teams(api)[15]
    students = _with_addresses(api, team)
    with api.engine.begin() as conn:
        conn.execute(
            text("UPDATE identities SET email = 'weiger@student.example' WHERE student_id = :s"),
            {"s": students[0]},
        )
        open_rounds(
            conn, week=WEEK, teams=[team], by="test", now=datetime.now(UTC), link_days=7, base_url=BASE
        )
    report = send_outbox(api.engine, _mailer(port), base_url=BASE, max_attempts=5)
    assert report.failed == 1 and any("550" in e for e in report.errors)
    with api.engine.connect() as conn:
        refused = conn.execute(
            text(
                "SELECT o.status, o.attempts, o.last_error FROM outbox_messages o "
                "JOIN round_links l ON l.link_id = o.link_id WHERE l.student_id = :s"
            ),
            {"s": students[0]},
        ).one()
    assert (refused.status, refused.attempts) == ("failed", 1) and "550" in refused.last_error
    assert all(m["To"] != "weiger@student.example" for m in sink.messages)


def test_a_new_call_for_help_after_the_weeks_alert_was_closed_reopens_it(api: Api) -> None:
    """The import said "wil praten: ja" this week, the zorgteam closed it; the student asks again in the
    round of the same week: one alert row per student, week and item, so it is reopened, never lost."""
    team = _teams(api)[16]
    issued = _open(api.engine, team)
    link = next(i for i in issued if not _has_open_help_alert(api.engine, i.student_id))
    with api.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO safeguarding_alerts (student_id, week, item, value, reason, status, raised_at, "
                "severity, handled_by, closed_reason) "
                "VALUES (:s, :w, :i, 1, 'wil praten: ja', 'gesloten', :t, 1, 'test-zorgteam', 'afgehandeld')"
            ),
            {
                "s": link.student_id,
                "w": WEEK,
                "i": Q.help_item.code,
                "t": datetime.now(UTC) - timedelta(days=1),
            },
        )
    done = api.client.post(_path(link.answer_url), data=_form(3, help_value=1))
    assert "Uit je antwoorden blijkt" in done.text and "uiterlijk" in done.text
    assert _has_open_help_alert(api.engine, link.student_id)
    timeline = api.client.get(f"/api/v1/students/{link.student_id}/timeline", headers=api.headers("zorgteam"))
    assert any("heropend" in e["title"] for e in timeline.json())
