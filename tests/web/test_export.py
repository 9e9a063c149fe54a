"""The risk list as a file: the same rows in the same order as the page, formulas neutralised, audited."""

from __future__ import annotations

import csv
import io
import re

from openpyxl import load_workbook
from sqlalchemy import text

from serving.web.export import neutralise, to_csv
from tests.api.conftest import WEEK, Api
from tests.web.helpers import page_get


def _page_students(api: Api, query: str) -> list[str]:
    page = page_get(api, "mentor", f"/web/lijst?{query}").text
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<a href="/web/leerling/([0-9a-f]{20})\?', body)


def _pseudonyms(api: Api, numbers: list[str]) -> list[str]:
    """The export shows the school's number where it is known, else the pseudonym: map back to compare."""
    with api.engine.connect() as conn:
        known: dict[str, str] = {
            str(n): str(i)
            for n, i in conn.execute(text("SELECT student_number, student_id FROM identities")).all()
        }
    return [known.get(n, n) for n in numbers]


def test_the_excel_file_holds_the_pages_rows_in_the_pages_order(api: Api) -> None:
    query = f"team={api.mentor_team}&week={WEEK}&sorteer=naam"
    response = page_get(api, "mentor", f"/web/lijst/export.xlsx?{query}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Rang", "Naam", "Studentnummer")
    assert _pseudonyms(api, [str(r[2]) for r in rows[1:]]) == _page_students(api, query)
    with api.engine.connect() as conn:
        logged = conn.execute(
            text("SELECT detail FROM audit_log WHERE action = 'export_risk_list' ORDER BY audit_id DESC")
        ).first()
    assert logged is not None and logged[0].startswith("xlsx")


def test_the_csv_file_is_dutch_excel_csv_with_the_same_rows(api: Api) -> None:
    query = f"team={api.mentor_team}&week={WEEK}&band=laag"
    response = page_get(api, "mentor", f"/web/lijst/export.csv?{query}")
    assert response.status_code == 200 and response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert _pseudonyms(api, [r[2] for r in rows[1:]]) == _page_students(api, query)
    other = page_get(api, "mentor", f"/web/lijst/export.csv?team={api.other_team}&week={WEEK}")
    assert other.status_code == 403  # a mentor exports only their own teams


def test_cells_that_would_run_as_formulas_are_neutralised() -> None:
    for dangerous in ('=HYPERLINK("http://x")', "+31 6", "-1", "@SUM(A1)", "\t=1"):
        assert neutralise(dangerous).startswith("'")
    assert neutralise("de Vries") == "de Vries" and neutralise(None) == ""
    content = to_csv(["Naam"], [["=1+1"]]).decode("utf-8-sig")
    assert "'=1+1" in content
