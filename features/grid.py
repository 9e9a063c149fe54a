"""Lay the rows of a long raw table (student, week[, item]) out on a dense week grid.

This is where bad raw data is caught: a duplicate (student, week[, item]) raises a :class:`ValueError`
that names the table, the student and the week. Only rows that feed the snapshot are looked at: rows of
enrolled students in the window ``(as_of - width, as_of]``. Rows of unknown or departed students, and
rows outside the window, are ignored (the import validates whole tables; this guards the features).

Memory: the source table is never copied. A :class:`GridRows` keeps the positions of the rows it uses
(int32 where they fit) and reads a column only when asked, so a 75-million-row questionnaire table costs a
few hundred MB of index arrays on top of itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.windows import DuplicateRowsError, FloatArray, scatter_positions, take_cells

IndexArray = npt.NDArray[np.signedinteger]


def _compact(values: npt.NDArray[np.integer], bound: int) -> IndexArray:
    """``values`` as int32 when every value (and ``bound``) fits, else int64."""
    dtype = np.int32 if bound < np.iinfo(np.int32).max else np.int64
    out: IndexArray = values.astype(dtype, copy=False)
    return out


@dataclass(frozen=True)
class GridRows:
    """The rows of one table inside the window, as positions into the (uncopied) source table."""

    table: str
    source: pd.DataFrame
    row: IndexArray  # positions in ``source``
    student: IndexArray  # row -> student position in the grid
    offset: IndexArray  # row -> column: 0 = as_of - width + 1, width - 1 = as_of
    width: int
    n_students: int

    def __len__(self) -> int:
        return len(self.row)

    def column(self, name: str) -> npt.NDArray[np.generic]:
        """The values of one column for the kept rows, in their own dtype."""
        out: npt.NDArray[np.generic] = self.source[name].to_numpy()[self.row]
        return out

    def subset(self, keep: npt.NDArray[np.bool_]) -> GridRows:
        """Only the rows where ``keep`` is true."""
        if keep.all():
            return self
        return GridRows(
            self.table,
            self.source,
            self.row[keep],
            self.student[keep],
            self.offset[keep],
            self.width,
            self.n_students,
        )

    def describe(self, position: int) -> str:
        """'student <id> in week <w>' for a kept row, for error messages."""
        record = self.source.iloc[int(self.row[position])]
        return f"student {record['student_id']} in week {int(record['week'])}"

    def value_of(self, position: int, column: str) -> object:
        return self.source.iloc[int(self.row[position])][column]


def _student_positions(column: pd.Series, row: IndexArray, ids: pd.Index) -> IndexArray:
    """Position in ``ids`` of the student of each of the ``row`` positions (-1: not among ``ids``).

    A categorical column (pseudonyms stored once, each row a small code) is looked up per category and
    read through its codes: no object array of the table's rows is built."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        per_category = ids.get_indexer(pd.Index(column.cat.categories.astype(object), copy=False))
        codes = column.cat.codes.to_numpy()[row]
        out: IndexArray = np.where(codes >= 0, per_category[codes], -1)
        return out
    return ids.get_indexer(pd.Index(column.to_numpy()[row], copy=False))


def window_rows(
    frame: pd.DataFrame, table: str, ids: pd.Index, as_of: int, width: int, value_columns: tuple[str, ...]
) -> GridRows:
    """The rows of ``frame`` for the students ``ids`` in weeks ``(as_of - width, as_of]``.

    Rows whose value columns are all missing are dropped: a NaN is "not recorded", not a value.
    """
    week = frame["week"].to_numpy()
    row = np.flatnonzero((week <= as_of) & (week > as_of - width))
    student = _student_positions(frame["student_id"], row, ids)
    keep = student >= 0
    if value_columns:
        recorded = np.zeros(len(row), dtype=bool)
        for column in value_columns:
            recorded |= pd.notna(frame[column].to_numpy()[row])
        keep &= recorded
    row, student = row[keep], student[keep]
    offset = week[row] - (as_of - width + 1)
    return GridRows(
        table=table,
        source=frame,
        row=_compact(row, len(frame)),
        student=_compact(student, len(ids)),
        offset=offset.astype(np.int16 if width < np.iinfo(np.int16).max else np.int64),
        width=width,
        n_students=len(ids),
    )


def _cells(rows: GridRows, item: IndexArray | None = None, n_items: int = 1) -> npt.NDArray[np.int64]:
    cells = rows.student.astype(np.int64) * rows.width + rows.offset
    if item is not None:
        cells *= n_items
        cells += item
    return cells


def weekly_positions(rows: GridRows) -> IndexArray:
    """Grid ``(students, width)`` of row numbers (-1 = no row); raise on duplicate (student, week)."""
    try:
        positions = scatter_positions(_cells(rows), rows.n_students * rows.width)
    except DuplicateRowsError as exc:
        raise ValueError(
            f"{rows.table}: more than one row for {rows.describe(exc.row)}; "
            "each (student_id, week) may occur once"
        ) from None
    return positions.reshape(rows.n_students, rows.width)


def item_positions(rows: GridRows, item: IndexArray, n_items: int) -> IndexArray:
    """Grid ``(students, width, items)`` of row numbers; raise on duplicate (student, week, item)."""
    try:
        positions = scatter_positions(_cells(rows, item, n_items), rows.n_students * rows.width * n_items)
    except DuplicateRowsError as exc:
        raise ValueError(
            f"{rows.table}: more than one answer to item {rows.value_of(exc.row, 'item')!r} for "
            f"{rows.describe(exc.row)}; each (student_id, week, item) may occur once"
        ) from None
    return positions.reshape(rows.n_students, rows.width, n_items)


def column_grid(rows: GridRows, column: str, positions: IndexArray) -> FloatArray:
    """The values of ``column`` on the grid of ``positions`` (NaN where there is no row)."""
    return take_cells(rows.column(column), positions)
