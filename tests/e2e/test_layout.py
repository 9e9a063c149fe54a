"""The mentor's list and student page on any screen: no sideways scrolling at 1366 and 390 px wide, and a
print layout without navigation or forms. Screenshots land in var/screenshots/."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.api.conftest import WEEK
from tests.e2e.conftest import SCREENSHOTS, Site, session_cookie
from tests.e2e.test_browser import top_student

pytestmark = pytest.mark.e2e
VIEWPORTS = [(1366, 900), (390, 844)]


@pytest.mark.parametrize(("width", "height"), VIEWPORTS, ids=lambda v: str(v))
def test_list_and_student_page_fit_the_screen(browser: Browser, site: Site, width: int, height: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="nl-NL")
    context.add_cookies([session_cookie(site, "mentor")])
    page = context.new_page()
    try:
        student = top_student(site, site.mentor_team)
        for name, path in (
            ("lijst", f"/web/lijst?team={site.mentor_team}&week={WEEK}"),
            ("leerling", f"/web/leerling/{student}?week={WEEK}"),
            ("zorg", "/web/zorg"),
        ):
            if name == "zorg":  # the zorgteam's queue, with the zorgteam's token
                context.add_cookies([session_cookie(site, "zorgteam")])
            response = page.goto(site.base + path)
            assert response is not None and response.status == 200, name
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} at {width} px scrolls sideways by {overflow} px"
    finally:
        context.close()


def test_the_printed_list_has_no_navigation_or_forms(browser: Browser, site: Site) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="nl-NL")
    context.add_cookies([session_cookie(site, "mentor")])
    page = context.new_page()
    try:
        page.goto(f"{site.base}/web/lijst?team={site.mentor_team}&week={WEEK}")
        expect(page.get_by_role("navigation")).to_be_visible()
        page.emulate_media(media="print")
        expect(page.get_by_role("navigation")).to_be_hidden()
        for form in page.locator("form").all():
            expect(form).to_be_hidden()
        expect(page.get_by_role("table")).to_be_visible()
        page.pdf(path=str(SCREENSHOTS / "lijst-print.pdf"), landscape=True, format="A4")
    finally:
        context.close()


NAME = "Zoë O'Brien-van der Çelik"


def test_the_mentor_sees_a_name_intact_on_the_list(browser: Browser, site: Site) -> None:
    """A name with diacritics and an apostrophe shows escaped and intact, with the school's number."""
    from sqlalchemy import text

    with site.engine.begin() as conn:
        student = conn.execute(
            text(
                "SELECT student_id FROM scores WHERE team = :t AND week = :w "
                "ORDER BY probability ASC, student_id LIMIT 1"
            ),
            {"t": site.mentor_team, "w": WEEK},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO identities (student_id, student_number, given_name, name_prefix, family_name) "
                "VALUES (:s, '2024-0042', 'Zoë', NULL, 'O''Brien-van der Çelik') "
                "ON CONFLICT (student_id) DO NOTHING"
            ),
            {"s": student},
        )
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="nl-NL")
    context.add_cookies([session_cookie(site, "mentor")])
    page = context.new_page()
    try:
        page.goto(f"{site.base}/web/lijst?team={site.mentor_team}&week={WEEK}&zoek=Zo%C3%AB")
        expect(page.get_by_role("link", name=NAME)).to_be_visible()
        expect(page.get_by_text("2024-0042")).to_be_visible()
        page.get_by_role("link", name=NAME).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(NAME)
        page.screenshot(path=str(SCREENSHOTS / "leerling-naam-390.png"), full_page=True)
    finally:
        context.close()
