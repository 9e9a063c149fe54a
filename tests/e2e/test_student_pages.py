"""The students' pages in a real browser (Debian's Chromium via Playwright), on a phone-sized screen unless a
test says otherwise: answering the weekly questionnaire with the big buttons, a call for help that reaches
the zorgteam's queue at once, the form's Dutch errors, links that do not (or no longer) work, the student's
own view with a reaction that reaches the mentor's "Op te volgen", and accessibility (axe-core, reflow at
320 px, touch targets, nothing loaded from elsewhere). Screenshots land in var/screenshots/.

One round (week WEEK, the mentor's team) is opened once for this module; every test takes links of students
no other test of the module used."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Browser, Page, Request, Response, expect
from sqlalchemy import text

from data.calendar import cached_school_calendar, week_label
from data.questionnaire import load_questionnaire
from serving.web.pages import moment_text
from settings import Settings
from tests.api.conftest import WEEK
from tests.e2e.conftest import SCREENSHOTS, Site, session_cookie
from workflows.mailer import moment_nl
from workflows.rounds import IssuedLink, open_rounds

pytestmark = pytest.mark.e2e

PHONE = (390, 844)
DESKTOP = (1366, 900)
Q = load_questionnaire()
HELP = Q.help_item.code
NEUTRAL = str((Q.scale_min + Q.scale_max) // 2)  # past no item's alert threshold
# What the app shows a student who asks for help (api_settings leaves both at their defaults).
CONTACT = str(Settings.model_fields["zorg_contact"].default)
CRISIS = str(Settings.model_fields["crisis_contact"].default)
INVALID_HEADING = "Deze link werkt niet"


def listed_students(site: Site) -> dict[str, Any]:
    """Scores rows of WEEK of the mentor's students on the list (verhoogd or hoog), by student, whose band
    no person changed and who have no outcome row at all: "Op te volgen" leaves out every student with an
    outcome, also one the synthetic school records for a week after WEEK."""
    with site.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT student_id, probability, lower, upper, reasons FROM scores "
                "WHERE week = :w AND team = :t AND band IN ('verhoogd', 'hoog') "
                "AND student_id NOT IN (SELECT student_id FROM band_overrides WHERE week = :w) "
                "AND student_id NOT IN (SELECT student_id FROM outcomes) "
                "ORDER BY probability DESC"
            ),
            {"w": WEEK, "t": site.mentor_team},
        ).all()
    return {str(r.student_id): r for r in rows}


def reason_texts(reasons: object) -> list[str]:
    parsed = json.loads(reasons) if isinstance(reasons, str) else reasons
    assert isinstance(parsed, list)
    return [str(r["text"]) for r in parsed if isinstance(r, dict) and r.get("text")]


# --- the round and its links ----------------------------------------------------------------------------


@dataclass
class Links:
    """The issued links of the module's round; :meth:`fresh` hands each student out once. The students on
    the mentor's list (see :func:`listed_students`) are kept for the tests that need one: the team is
    small (a dozen students, two of them listed without an outcome)."""

    issued: tuple[IssuedLink, ...]
    listed: frozenset[str]
    used: set[str] = field(default_factory=set)

    def fresh(self, ok: Callable[[str], bool] = lambda _: True, *, listed: bool = False) -> IssuedLink:
        for link in self.issued:
            s = link.student_id
            if s not in self.used and (s in self.listed) == listed and ok(s):
                self.used.add(s)
                return link
        kind = "listed" if listed else "unlisted"
        raise AssertionError(f"no unused {kind} student link left that fits ({len(self.used)} used)")


@pytest.fixture(scope="module")
def links(site: Site) -> Links:
    with site.engine.begin() as conn:
        report = open_rounds(
            conn,
            week=WEEK,
            teams=[site.mentor_team],
            by="test-e2e-student-pages",
            now=datetime.now(UTC),
            link_days=7,
            base_url=site.base,
            csv=True,
        )
    assert report.opened == (site.mentor_team,), report
    for link in report.issued:
        assert link.answer_url.startswith(f"{site.base}/v/") and link.view_url.startswith(f"{site.base}/v/")
    listed = {s for s, row in listed_students(site).items() if reason_texts(row.reasons)}
    assert listed, "no student of the mentor's team is on the list with reasons"
    return Links(report.issued, frozenset(listed))


# --- store helpers --------------------------------------------------------------------------------------


def stored_answers(site: Site, student: str, week: int = WEEK) -> dict[str, int]:
    with site.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT item, value FROM questionnaire_answers WHERE student_id = :s AND week = :w"),
            {"s": student, "w": week},
        ).all()
    return {str(r.item): int(r.value) for r in rows}


def alerts_of(site: Site, student: str) -> list[Any]:
    with site.engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT alert_id, week, item, status, due_at FROM safeguarding_alerts "
                    "WHERE student_id = :s ORDER BY alert_id"
                ),
                {"s": student},
            ).all()
        )


def without_open_alert(site: Site) -> Callable[[str], bool]:
    """Students with no zorgmelding that is not closed, and none for this week's help item (whose
    uniqueness would keep a new one from being raised)."""

    def ok(student: str) -> bool:
        return not any(
            a.status != "gesloten" or (int(a.week) == WEEK and a.item == HELP)
            for a in alerts_of(site, student)
        )

    return ok


def answered_at(site: Site, student: str) -> object:
    with site.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT l.answered_at FROM round_links l "
                "JOIN questionnaire_rounds r ON r.round_id = l.round_id "
                "WHERE l.student_id = :s AND r.week = :w"
            ),
            {"s": student, "w": WEEK},
        ).scalar_one()


def aware(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- browser helpers ------------------------------------------------------------------------------------


@contextmanager
def open_page(
    browser: Browser, size: tuple[int, int] = PHONE, cookie_of: tuple[Site, str] | None = None
) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, locale="nl-NL")
    if cookie_of is not None:
        context.add_cookies([session_cookie(*cookie_of)])
    try:
        yield context.new_page()
    finally:
        context.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def goto(page: Page, url: str, status: int = 200) -> None:
    response = page.goto(url)
    assert response is not None and response.status == status, (url, response and response.status)


def choose(page: Page, code: str, value: str) -> None:
    """Click the big button of ``value`` (the label; its radio lies invisibly over it)."""
    button = page.locator(f"#vraag-{code} label.choice").filter(has=page.locator(f"input[value='{value}']"))
    button.click()
    expect(button.locator("input")).to_be_checked()


def submit(page: Page, button: str = "Versturen") -> Response:
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state()
    return posted.value


def all_answers(values: dict[str, str] | None = None, *, help_value: str = "0") -> dict[str, str]:
    """One answer per question: ``values`` where given, else the middle of the scale."""
    return {code: (values or {}).get(code, NEUTRAL) for code in Q.item_codes} | {HELP: help_value}


def answer(page: Page, answers: dict[str, str]) -> None:
    for code, value in answers.items():
        choose(page, code, value)


# --- 1. answering ---------------------------------------------------------------------------------------


def test_a_student_answers_with_the_big_buttons_and_the_answers_are_stored(
    browser: Browser, site: Site, links: Links
) -> None:
    link = links.fresh(without_open_alert(site))
    before, alerts_before = stored_answers(site, link.student_id), alerts_of(site, link.student_id)
    # a value that differs from what the school's import stored for this week (so the write is visible),
    # never the lowest (no threshold alert)
    choices = {
        code: next(v for v in ("4", "3", "2", "5") if before.get(code) != int(v)) for code in Q.item_codes
    }
    wanted = all_answers(choices, help_value="0")
    with open_page(browser) as page:
        goto(page, link.answer_url)
        expect(page.get_by_role("heading", level=1)).to_have_text("Hoe gaat het met je?")
        expect(page.locator("fieldset.question")).to_have_count(len(Q.all_codes))
        answer(page, wanted)
        response = submit(page)
        assert response.status == 200
        assert page.url == link.answer_url  # the thank-you page is the answer to the post, same address
        expect(page.get_by_role("heading", level=1)).to_have_text("Bedankt!")
        expect(page.get_by_role("status")).to_have_text("Je antwoorden zijn opgeslagen.")
        expect(page.get_by_text("Je hoort van ons")).to_have_count(0)  # "nee", and no open zorgmelding
    assert stored_answers(site, link.student_id) == {code: int(v) for code, v in wanted.items()}
    assert answered_at(site, link.student_id) is not None
    assert alerts_of(site, link.student_id) == alerts_before


# --- 2. a call for help ---------------------------------------------------------------------------------


def test_wil_praten_ja_names_who_calls_and_when_and_reaches_the_zorgteam_at_once(
    browser: Browser, site: Site, links: Links
) -> None:
    link = links.fresh(without_open_alert(site))
    with open_page(browser) as page:
        goto(page, link.answer_url)
        answer(page, all_answers(help_value="1"))
        assert submit(page).status == 200
        expect(page.get_by_role("heading", level=1)).to_have_text("Bedankt!")
        alerts = [a for a in alerts_of(site, link.student_id) if a.status != "gesloten"]
        assert [(int(a.week), a.item) for a in alerts] == [(WEEK, HELP)]
        due = aware(alerts[0].due_at)
        assert due > datetime.now(UTC) - timedelta(minutes=1)
        care = page.locator("section.care")
        expect(care.get_by_role("heading", name="Je hoort van ons")).to_be_visible()
        expect(care).to_contain_text(f"Daarom neemt {CONTACT} contact met je op, uiterlijk {moment_nl(due)}.")
        expect(care.locator(".crisis")).to_have_text(CRISIS)
        expect(care).to_contain_text("113")

    with open_page(browser, cookie_of=(site, "zorgteam")) as page:
        goto(page, f"{site.base}/web/zorg?zoek={link.student_id}")
        cards = page.locator("li.alert-card").filter(
            has=page.locator(f"a[href='/web/leerling/{link.student_id}']")
        )
        expect(cards).to_have_count(1)
        expect(cards).to_have_class("alert-card is-help")
        expect(cards.locator(".sev-1")).to_have_text("wil praten")
        label = week_label(cached_school_calendar(None), WEEK)
        expect(cards).to_contain_text(f"team {link.team}, {label}")  # a date, never the week index
        expect(cards.locator("dt:has-text('Oppakken vóór') + dd")).to_have_text(moment_text(due))


# --- 3. an incomplete form ------------------------------------------------------------------------------


def test_questions_left_open_show_dutch_errors_keep_the_choices_and_store_nothing(
    browser: Browser, site: Site, links: Links
) -> None:
    link = links.fresh(without_open_alert(site))
    before, alerts_before = stored_answers(site, link.student_id), alerts_of(site, link.student_id)
    given = {code: "4" for code in Q.item_codes[:3]}
    missing = [*Q.item_codes[3:], HELP]
    with open_page(browser) as page:
        goto(page, link.answer_url)
        answer(page, given)
        assert submit(page).status == 422
        expect(page.get_by_role("heading", level=1)).to_have_text("Hoe gaat het met je?")
        summary = page.get_by_role("alert")
        expect(summary.get_by_role("heading")).to_have_text("Nog niet alles is ingevuld")
        items = summary.locator("li")
        expect(items).to_have_count(len(missing))
        texts = {i.code: i.text for i in Q.items} | {HELP: Q.help_item.question}
        for row, code in zip(items.all(), missing, strict=True):
            problem = "Kies ja of nee." if code == HELP else "Kies een antwoord."
            expect(row).to_have_text(f"{texts[code]}: {problem}")
            expect(row.get_by_role("link")).to_have_attribute("href", f"#vraag-{code}")
            expect(page.locator(f"#vraag-{code}")).to_have_class(
                "question has-problem" if code != HELP else "question help has-problem"
            )
            expect(page.locator(f"#fout-{code}")).to_have_text(problem)
        for code, value in given.items():
            expect(page.locator(f"#vraag-{code} input[value='{value}']")).to_be_checked()
            expect(page.locator(f"#vraag-{code} input:checked")).to_have_count(1)
            expect(page.locator(f"#fout-{code}")).to_have_count(0)
        for code in missing:
            expect(page.locator(f"#vraag-{code} input:checked")).to_have_count(0)
        # the summary's link takes the student to the question
        items.first.get_by_role("link").click()
        assert page.url.endswith(f"#vraag-{missing[0]}")
    assert stored_answers(site, link.student_id) == before
    assert answered_at(site, link.student_id) is None
    assert alerts_of(site, link.student_id) == alerts_before


# --- 4. links that do not work --------------------------------------------------------------------------


def test_a_used_link_says_al_ingevuld_and_bad_links_all_show_the_same_page(
    browser: Browser, site: Site, links: Links
) -> None:
    link = links.fresh(without_open_alert(site))
    first = all_answers({code: "4" for code in Q.item_codes})
    with open_page(browser) as page, open_page(browser) as twin:
        goto(page, link.answer_url)
        goto(twin, link.answer_url)  # the same link open in a second tab
        answer(page, first)
        assert submit(page).status == 200
        expect(page.get_by_role("heading", level=1)).to_have_text("Bedankt!")
        goto(page, link.answer_url, 409)
        expect(page.get_by_role("heading", level=1)).to_have_text("Je hebt deze vragenlijst al ingevuld")
        expect(page.locator("main")).to_contain_text("al opgeslagen")
        expect(page.locator("form")).to_have_count(0)
        # a second submission (from the other tab) is refused and changes nothing
        answer(twin, all_answers({code: "2" for code in Q.item_codes}))
        assert submit(twin).status == 409
        expect(twin.get_by_role("heading", level=1)).to_have_text("Je hebt deze vragenlijst al ingevuld")
    assert stored_answers(site, link.student_id) == {code: int(v) for code, v in first.items()}

    # an expired link: a round of the week before, for the same team, whose end lies in the past
    with site.engine.begin() as conn:
        report = open_rounds(
            conn,
            week=WEEK - 1,
            teams=[site.mentor_team],
            by="test-e2e-student-pages",
            now=datetime.now(UTC) - timedelta(days=1),
            link_days=7,
            base_url=site.base,
            csv=True,
        )
        assert report.opened == (site.mentor_team,)
        expired = report.issued[0]
        changed = conn.execute(
            text("UPDATE questionnaire_rounds SET expires_at = :t WHERE week = :w AND team = :team"),
            {"t": datetime.now(UTC) - timedelta(minutes=5), "w": WEEK - 1, "team": site.mentor_team},
        ).rowcount
        assert changed == 1
    token = link.answer_url.rsplit("/", 1)[1]
    bad = {
        "verlopen": expired.answer_url,
        "verlopen-overzicht": expired.view_url,
        "verzonnen": f"{site.base}/v/{secrets.token_urlsafe(32)}",
        "half-overgenomen": f"{site.base}/v/{token[:-1]}",
    }
    assert len(bad["verzonnen"].rsplit("/", 1)[1]) == 43
    bodies: dict[str, str] = {}
    with open_page(browser) as page:
        for name, url in bad.items():
            goto(page, url, 404)
            expect(page.get_by_role("heading", level=1)).to_have_text(INVALID_HEADING)
            assert page.title().startswith(INVALID_HEADING), name
            bodies[name] = page.locator("body").inner_text()
    assert len(set(bodies.values())) == 1, bodies
    assert link.student_id not in bodies["half-overgenomen"]


# --- 5. the own view ------------------------------------------------------------------------------------


def test_the_own_view_shows_the_mentors_reasons_no_probability_and_takes_a_reaction(
    browser: Browser, site: Site, links: Links
) -> None:
    listed = listed_students(site)
    link = links.fresh(listed=True)
    score = listed[link.student_id]
    reasons = reason_texts(score.reasons)
    with open_page(browser, cookie_of=(site, "mentor")) as mentor:
        goto(mentor, f"{site.base}/web/leerling/{link.student_id}?week={WEEK}")
        mentor_reasons = mentor.locator("ol.reasons li").all_inner_texts()
    assert mentor_reasons == reasons

    note = f"Ik was ziek, daarom was ik er niet (e2e {link.student_id})"
    with open_page(browser) as page:
        goto(page, link.view_url)
        expect(page.get_by_role("heading", level=1)).to_have_text("Wat de school over jou bijhoudt")
        expect(page.locator("p.signal")).to_contain_text("Ja. Je mentor kijkt in")
        assert page.locator("ul.reasons li").all_inner_texts() == reasons
        # no probability anywhere: no percentage outside the attendance, no number of the score in the HTML
        main = page.locator("main").inner_text()
        attendance = page.locator("section[aria-labelledby='aanwezig']").inner_text()
        rest = main.replace(attendance, "")
        for reason in reasons:  # a reason may quote a share ("bij 10% van de lessen")
            rest = rest.replace(reason, "")
        assert "%" not in rest
        assert "kans" not in main.lower()
        html = page.content()
        for p in (score.probability, score.lower, score.upper):
            for shown in (repr(float(p)), f"{p:.3f}", f"{p:.2f}".replace(".", ","), f"{p * 100:.1f}"):
                assert shown not in html, shown
        shot(page, "student-eigen-overzicht-op-de-lijst-390")

        page.locator("label.choice").filter(has_text="Dit klopt niet").click()
        expect(page.locator("input[name='soort'][value='klopt_niet']")).to_be_checked()
        page.get_by_label("Je reactie").fill(note)
        assert submit(page, "Reactie versturen").status == 200
        expect(page.get_by_role("status")).to_have_text(
            "Dank je. Je mentor en het zorgteam lezen je reactie en nemen contact met je op."
        )
        expect(page.locator("ul.reactions li").first).to_contain_text("Dit klopt niet")
        expect(page.locator("ul.reactions li").first).to_contain_text(note)
        results = Axe().run(page)  # the view with reasons, a message and a reaction
        assert results.violations_count == 0, results.generate_report()

    with open_page(browser, cookie_of=(site, "mentor")) as mentor:
        goto(mentor, f"{site.base}/web/opvolgen")
        expect(mentor.get_by_role("heading", level=1)).to_have_text("Op te volgen")
        card = mentor.locator("#opvolgen li.followup-card").filter(has_text=note)
        expect(card).to_have_count(1)
        expect(card).to_contain_text("De student vindt dat iets niet klopt")
        expect(card.locator(f"a[href='/web/leerling/{link.student_id}']")).to_have_count(1)
    with site.engine.connect() as conn:
        actions = conn.execute(
            text("SELECT action, note FROM actions WHERE student_id = :s AND action LIKE 'student_%'"),
            {"s": link.student_id},
        ).all()
    assert [(a.action, a.note) for a in actions] == [("student_contest", note)]


# --- 6 and 7. every page, checked and photographed ------------------------------------------------------


def walk(page: Page, site: Site, link: IssuedLink, at: Callable[[str], None]) -> None:
    """Questionnaire, the form with errors, the thank-you page, the own view and the privacy notice;
    ``at(name)`` is called on each."""
    goto(page, link.answer_url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Hoe gaat het met je?")
    at("vragenlijst")
    half = len(Q.item_codes) // 2
    answers = all_answers()
    answer(page, {code: answers[code] for code in Q.item_codes[:half]})
    assert submit(page).status == 422
    expect(page.get_by_role("alert")).to_contain_text("Nog niet alles is ingevuld")
    at("fouten")
    answer(page, {code: answers[code] for code in Q.all_codes[half:]})
    assert submit(page).status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Bedankt!")
    at("bedankt")
    goto(page, link.view_url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Wat de school over jou bijhoudt")
    at("eigen-overzicht")
    page.get_by_role("link", name="Wat doet de school met je gegevens? (privacy)").click()
    page.wait_for_load_state()
    assert page.url == f"{site.base}/v/privacy"
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    at("privacy")


def test_axe_finds_no_violation_on_any_student_page(browser: Browser, site: Site, links: Links) -> None:
    link = links.fresh()
    axe = Axe()
    found: dict[str, list[str]] = {}

    def check(name: str) -> None:
        results = axe.run(page)
        found[name] = [
            f"{v['id']} ({v['impact']}): {', '.join(str(n['target']) for n in v['nodes'])}"
            for v in results.response["violations"]
        ]
        assert results.violations_count == len(found[name])
        assert results.response["testEngine"]["name"] == "axe-core"
        assert len(results.response["passes"]) > 10, name  # axe really looked at the page

    with open_page(browser) as page:
        walk(page, site, link, check)
    assert list(found) == ["vragenlijst", "fouten", "bedankt", "eigen-overzicht", "privacy"]
    assert found == {name: [] for name in found}, found


@pytest.mark.parametrize("width", [320, 390])
def test_the_questionnaire_fits_a_small_screen_with_big_buttons(
    browser: Browser, site: Site, links: Links, width: int
) -> None:
    link = links.fresh()
    overflow: dict[str, int] = {}

    def measure(name: str) -> None:
        overflow[name] = int(page.evaluate("document.documentElement.scrollWidth")) - width
        if name in ("vragenlijst", "fouten"):
            buttons = page.locator("label.choice")
            expect(buttons).to_have_count(len(Q.item_codes) * (Q.scale_max - Q.scale_min + 1) + 2)
            for button in buttons.all():
                box = button.bounding_box()
                assert box is not None
                assert box["width"] >= 44 and box["height"] >= 44, (name, button.inner_text(), box)

    with open_page(browser, (width, 800)) as page:
        walk(page, site, link, measure)
    assert overflow["vragenlijst"] <= 0, overflow
    assert overflow == {name: min(0, o) for name, o in overflow.items()}, f"sideways scrolling: {overflow}"


def test_the_student_pages_load_nothing_from_elsewhere(browser: Browser, site: Site, links: Links) -> None:
    link = links.fresh()
    requested: list[str] = []
    with open_page(browser) as page:

        def note(request: Request) -> None:
            requested.append(request.url)

        page.on("request", note)
        walk(page, site, link, lambda _: None)
    assert f"{site.base}/web/static/student.css" in requested
    assert [u for u in requested if not u.startswith(f"{site.base}/")] == []


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=lambda s: f"{s[0]}x{s[1]}")
def test_screenshots_of_the_student_pages(
    browser: Browser, site: Site, links: Links, size: tuple[int, int]
) -> None:
    link = links.fresh()
    taken: list[str] = []

    def photograph(name: str) -> None:
        if name != "privacy":
            shot(page, f"student-{name}-{size[0]}")
            taken.append(name)

    with open_page(browser, size) as page:
        walk(page, site, link, photograph)
    assert taken == ["vragenlijst", "fouten", "bedankt", "eigen-overzicht"]
    for name in taken:
        assert (SCREENSHOTS / f"student-{name}-{size[0]}.png").stat().st_size > 5_000
