"""Reading a school's export as it is: CSV in UTF-8 or Windows-1252, separated by commas, semicolons or
tabs (Dutch Excel saves "CSV (puntkomma-gescheiden)" in Windows-1252 with decimal commas), and ``.xlsx``
workbooks (the first sheet). What was detected is returned beside the cells, for the import report; a
file that is none of these gets a message naming the line and what to do.

Every cell is text here; :func:`data.csv_io.parse_frame` types and checks them (a decimal comma is read
as a decimal point there).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab"}
ENCODINGS = (("utf-8-sig", "UTF-8"), ("cp1252", "Windows-1252"))
EXCEL_SUFFIXES = (".xlsx",)
TEXT_SUFFIXES = (".csv", ".txt")
# Rows looked at to tell a decimal comma from a decimal point (for the report only; both are read).
DECIMAL_SAMPLE_ROWS = 10_000
_DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")
_DECIMAL_POINT = re.compile(r"^-?\d+\.\d+$")
_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


class FileFormatError(ValueError):
    """A file that cannot be read as a table; the message names the file and, where known, the line."""


@dataclass(frozen=True)
class FileFormat:
    """What a file turned out to be."""

    kind: str  # "csv" or "xlsx"
    encoding: str | None = None  # CSV only: "UTF-8" or "Windows-1252"
    separator: str | None = None  # CSV only: "comma", "semicolon" or "tab"
    decimal: str | None = None  # "comma", "point" or None (no decimal numbers seen)

    def describe(self) -> str:
        decimal = f", decimal {self.decimal}" if self.decimal else ""
        if self.kind == "xlsx":
            return f"Excel workbook (first sheet){decimal}"
        return f"CSV, {self.encoding}, {self.separator}-separated{decimal}"


CHUNK = 1 << 20


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def undecodable(path: Path) -> FileFormatError:
    """The error for a file that is neither UTF-8 nor Windows-1252: the line of the first byte that
    Windows-1252 (the last encoding tried) cannot decode either, read in chunks."""
    decoder = codecs.getincrementaldecoder(ENCODINGS[-1][0])()
    lines = 0
    for chunk in _chunks(path):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            line = lines + exc.object[: exc.start].count(b"\n") + 1
            return FileFormatError(
                f"{path}, line {line}: byte 0x{exc.object[exc.start]:02x} is neither UTF-8 nor Windows-1252 "
                "text; save the file as 'CSV UTF-8 (door komma's gescheiden)'"
            )
        lines += chunk.count(b"\n")
    return FileFormatError(f"{path}: neither UTF-8 nor Windows-1252 text; save the file as 'CSV UTF-8'")


def _header_line(path: Path, codec: str) -> str:
    with path.open("r", encoding=codec, newline="") as handle:
        return handle.readline().rstrip("\r\n")


def detect_separator(header: str) -> str:
    """The separator of a CSV file from its header line: the one of comma, semicolon and tab that splits
    it into the most fields (headers hold names, not numbers, so a decimal comma cannot mislead it)."""
    counts = {sep: header.count(sep) for sep in SEPARATORS}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _decimal(frame: pd.DataFrame) -> str | None:
    sample = frame.head(DECIMAL_SAMPLE_ROWS)
    comma = point = False
    for column in sample.columns:
        values = sample[column].astype(str)
        comma = comma or bool(values.str.match(_DECIMAL_COMMA).any())
        point = point or bool(values.str.match(_DECIMAL_POINT).any())
    if comma:
        return "comma"
    return "point" if point else None


def _parser_error(file: str, exc: Exception, separator: str) -> FileFormatError:
    found = _FIELDS.search(str(exc))
    if found is None:
        return FileFormatError(f"{file}: not a readable CSV file ({exc})")
    expected, line, saw = (int(g) for g in found.groups())
    hint = (
        " A decimal comma in a comma-separated file splits a number in two: save the file with semicolons "
        "('CSV (puntkomma-gescheiden)') or use decimal points."
        if separator == ","
        else " A cell holding the separator must be put between double quotes."
    )
    return FileFormatError(
        f"{file}, line {line}: {saw} fields where the header has {expected} "
        f"({SEPARATORS[separator]}-separated).{hint}"
    )


def read_csv(path: Path) -> tuple[pd.DataFrame, FileFormat]:
    """Cells of a CSV file, all as strings, with the format found (encoding, separator, decimal mark)."""
    nul = nul_line(path)
    if nul is not None:
        raise FileFormatError(
            f"{path}, line {nul}: holds a NUL byte (\\0); the file is damaged or saved as UTF-16 "
            "(save it as 'CSV UTF-8')"
        )
    # The reader itself decodes: UTF-8 first (one pass over a UTF-8 file), Windows-1252 when that fails.
    for codec, encoding in ENCODINGS:
        try:
            separator = detect_separator(_header_line(path, codec))
            frame = pd.read_csv(
                path, sep=separator, dtype=str, keep_default_na=False, skipinitialspace=True, encoding=codec
            )
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError:
            raise FileFormatError(f"{path}: the file is empty (no header line)") from None
        except pd.errors.ParserError as exc:
            raise _parser_error(str(path), exc, separator) from None
        frame.columns = [str(c).strip() for c in frame.columns]
        return frame, FileFormat("csv", encoding, SEPARATORS[separator], _decimal(frame))
    raise undecodable(path)


def read_excel(path: Path) -> tuple[pd.DataFrame, FileFormat]:
    """Cells of the first sheet of an ``.xlsx`` workbook, as strings (a whole number Excel stores as
    ``3.0`` stays a whole number when parsed)."""
    try:
        frame = pd.read_excel(path, sheet_name=0, dtype=str, keep_default_na=False, engine="openpyxl")
    except (ValueError, OSError, KeyError) as exc:
        raise FileFormatError(f"{path}: not a readable .xlsx workbook ({exc})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, FileFormat("xlsx", decimal=_decimal(frame))


def nul_line(path: Path) -> int | None:
    """The first line holding a NUL byte, or None. The CSV reader would cut such a cell short in silence;
    a NUL in a text export means a damaged file or another encoding (UTF-16)."""
    line = 1
    for chunk in _chunks(path):
        at = chunk.find(b"\0")
        if at >= 0:
            return line + chunk.count(b"\n", 0, at)
        line += chunk.count(b"\n")
    return None


def read_table_file(path: Path) -> tuple[pd.DataFrame, FileFormat]:
    """Cells (all strings, header stripped) and format of a CSV or ``.xlsx`` export. Raises
    :class:`FileNotFoundError` for a missing file and :class:`FileFormatError` for an unreadable one."""
    if not path.is_file():
        raise FileNotFoundError(path)
    if path.suffix.lower() in EXCEL_SUFFIXES:
        return read_excel(path)
    return read_csv(path)
