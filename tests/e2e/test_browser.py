"""Main paths in a real browser (Debian's Chromium via Playwright), with screenshots in var/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import text

from data.calendar import cached_school_calendar, week_label
from tests.api.conftest import WEEK
from tests.e2e.conftest import SCREENSHOTS, Site

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="nl-NL")
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def login(page: Page, site: Site, role: str) -> None:
    page.goto(f"{site.base}/web/login")
    page.get_by_label("Token").fill(site.tokens[role])
    page.get_by_role("button", name="Inloggen").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welkom")


def top_student(site: Site, team: str) -> str:
    with site.engine.connect() as conn:
        return str(
            conn.execute(
                text(
                    "SELECT student_id FROM scores WHERE team = :t AND week = :w "
                    "ORDER BY probability DESC, student_id LIMIT 1"
                ),
                {"t": team, "w": WEEK},
            ).scalar_one()
        )


def test_mentor_sees_own_team_opens_student_and_records_action(page: Page, site: Site) -> None:
    shot_login = page.goto(f"{site.base}/web/login")
    assert shot_login is not None
    shot(page, "01-inloggen")
    login(page, site, "mentor")
    page.get_by_role("link", name="Risicolijst").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Risicolijst team {site.mentor_team}, {week_label(cached_school_calendar(), WEEK)}"
    )
    team_options = page.locator("#team option").all_inner_texts()
    assert team_options == [site.mentor_team]
    own, other = top_student(site, site.mentor_team), top_student(site, site.other_team)
    expect(page.get_by_role("link", name=own, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=other, exact=True)).to_have_count(0)
    shot(page, "02-risicolijst-mentor")

    page.get_by_role("link", name=own, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Student {own}")
    expect(page.get_by_role("heading", name="Verloop over de weken")).to_be_visible()
    page.get_by_text("Actie of band vastleggen").click()
    page.get_by_label("Actie", exact=True).select_option("referral_onderwijsmakelaar")
    page.get_by_label("Notitie (optioneel)").fill("Gesprek over geldzorgen, doorverwezen")
    page.get_by_role("button", name="Actie opslaan").click()
    expect(page.get_by_role("status")).to_contain_text("De actie is vastgelegd")
    expect(page.get_by_role("cell", name="Gesprek over geldzorgen, doorverwezen")).to_be_visible()
    shot(page, "03-student-mentor")


def test_mentor_cannot_open_other_team_student(page: Page, site: Site) -> None:
    login(page, site, "mentor")
    other = top_student(site, site.other_team)
    response = page.goto(f"{site.base}/web/leerling/{other}")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Geen toegang")
    shot(page, "04-geen-toegang")
    with site.engine.connect() as conn:
        denied = conn.execute(
            text(
                "SELECT COUNT(*) FROM audit_log "
                "WHERE student_id = :s AND allowed = :f AND user_name = 'test-mentor'"
            ),
            {"s": other, "f": False},
        ).scalar_one()
    assert denied >= 1


def test_coordinator_places_two_students(page: Page, site: Site) -> None:
    login(page, site, "coachklas")
    page.goto(f"{site.base}/web/coachklas?week={WEEK}")
    occupied = int(page.locator("#bezetting").inner_text().split(" ")[0])
    page.get_by_text("Aantal plaatsen wijzigen").click()
    page.get_by_label(re.compile("^Plaatsen vanaf")).fill(str(occupied + 4))
    page.get_by_role("button", name="Opslaan").click()
    expect(page.get_by_role("status")).to_contain_text("plaatsen is opgeslagen")
    expect(page.locator("#vrij")).to_have_text("4 vrij")
    placed = []
    for _ in range(2):
        row = page.locator("tbody tr").filter(has=page.get_by_role("button", name="Besluit vastleggen")).first
        placed.append(row.locator("td").nth(1).locator("a").inner_text())
        row.get_by_label("Besluit", exact=True).select_option("placed")
        row.get_by_label("Reden", exact=True).fill("Hoge nood en gemotiveerd")
        row.get_by_role("button", name="Besluit vastleggen").click()
        expect(page.get_by_role("status")).to_contain_text("Geplaatst")
    expect(page.locator("#vrij")).to_have_text("2 vrij")
    for student in placed:
        expect(page.locator("#nu-in-de-coachklas")).to_contain_text(student)
    shot(page, "05-coachklas")


def test_auditor_replays_a_score(page: Page, site: Site) -> None:
    login(page, site, "auditor")
    page.get_by_role("navigation").get_by_role("link", name="Score uitleggen").click()
    student = top_student(site, site.mentor_team)
    page.get_by_label("Student").fill(student)
    page.get_by_label("Week").fill(str(WEEK))
    page.get_by_role("button", name="Toon uitleg").click()
    # the week as staff say it (calendar week and dates), not the internal index
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile(rf"^Uitleg score {student}, wk \d+, \d")
    )
    page.get_by_role("button", name="Opnieuw berekenen").click()
    expect(page.locator("#replay-result")).to_contain_text(re.compile("identiek"))
    shot(page, "06-uitleg-herberekening")


def test_no_page_breaks_the_content_security_policy_and_logout_ends_the_session(
    page: Page, site: Site
) -> None:
    """The pages need no inline script or style (the CSP allows none): Chromium reports no violation on
    any page; logging out ends the session, and a form post without the page's CSRF token is refused."""
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    login(page, site, "admin")
    student = top_student(site, site.mentor_team)
    for path in (
        f"/web/lijst?team={site.mentor_team}&week={WEEK}",
        f"/web/leerling/{student}?week={WEEK}",
        f"/web/uitleg/{student}/{WEEK}",
        "/web/zorg",
        f"/web/coachklas?week={WEEK}",
        "/web/modellen",
        "/web/audit",
        "/web/opvolgen",
        "/web/monitoring",
        "/web/effecten",
    ):
        response = page.goto(site.base + path)
        assert response is not None and response.status == 200, path
    assert violations == []
    # a form that lost its CSRF token (as a forged one would) is refused with a Dutch page
    page.goto(f"{site.base}/web/leerling/{student}?week={WEEK}")
    page.get_by_text("Actie of band vastleggen").click()
    page.get_by_label("Actie", exact=True).select_option("conversation")  # no action is chosen beforehand
    page.locator('form[action$="/actie"] input[name="csrf_token"]').evaluate("e => e.remove()")
    page.get_by_role("button", name="Actie opslaan").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Geen toegang")
    expect(page.get_by_role("alert")).to_contain_text("Laad de pagina opnieuw")
    page.goto(f"{site.base}/web/")
    page.get_by_role("button", name="Uitloggen").click()
    expect(page.get_by_role("status")).to_have_text("U bent uitgelogd.")
    page.goto(f"{site.base}/web/lijst")
    expect(page.get_by_role("heading", level=1)).to_have_text("Inloggen")
