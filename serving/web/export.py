"""The risk list as a file: CSV (Dutch Excel: semicolons, UTF-8 with BOM) and Excel (.xlsx, openpyxl).

Both hold exactly the rows of the page, in its order. Any cell that a spreadsheet would read as a formula
(it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a leading apostrophe, so a
name or a note can never run as a formula on a colleague's computer (CSV/formula injection); one rule for
every export, in :mod:`data.spreadsheet`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from data.spreadsheet import neutralise

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def to_csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    writer.writerows([[neutralise(v) for v in row] for row in rows])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append([neutralise(h) for h in header])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([neutralise(v) for v in row])
    sheet.freeze_panes = "A2"
    for index, name in enumerate(header, start=1):
        widest = max([len(name), *(len(str(row[index - 1] or "")) for row in rows)])
        sheet.column_dimensions[get_column_letter(index)].width = min(60, widest + 2)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


__all__ = ["XLSX_MEDIA_TYPE", "neutralise", "to_csv", "to_xlsx"]
