"""CSV ingest over HTTP: the same validated, atomic, idempotent import as ``vsv import`` (data team)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, HTTPException, UploadFile, status

from data.contracts import CONTRACTS
from data.csv_io import CsvImportError, RowError, import_files
from serving.deps import ContextDep, Guard, require
from serving.routes.common import errors
from serving.schemas import ImportReportOut, IngestOut
from workflows.audit import AuditEntry
from workflows.safeguarding import AlertsOnImport
from workflows.users import DATA_TEAM

router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])
DataTeam = Annotated[Guard, Depends(require(DATA_TEAM, "ingest"))]
MAX_UPLOAD_BYTES = 2 * 1024**3


def _file_name(upload: UploadFile) -> str:
    name = Path(upload.filename or "").name
    if name.split(".")[0] not in CONTRACTS or not name.endswith(".csv"):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[
                {
                    "loc": ["body", "files", name or "?"],
                    "msg": f"noem het bestand <tabel>.csv met tabel een van {', '.join(CONTRACTS)}",
                    "type": "value_error",
                }
            ],
        )
    return name


def _error_detail(exc: CsvImportError, folder: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for error in exc.errors:
        if isinstance(error, RowError):
            out.append(
                {
                    "loc": ["body", "files", Path(error.file).name, error.line, error.column],
                    "msg": error.problem,
                    "type": "value_error",
                }
            )
        else:
            out.append(
                {"loc": ["body", "files"], "msg": str(error).replace(folder + "/", ""), "type": "value_error"}
            )
    return out


@router.post(
    "",
    response_model=IngestOut,
    summary="Import <table>.csv files: all or nothing, idempotent; safeguarding alerts are raised at once",
    responses=errors(422),
)
def ingest(
    files: Annotated[list[UploadFile], File(description="One or more <table>.csv files")],
    ctx: ContextDep,
    guard: DataTeam,
) -> IngestOut:
    names = [_file_name(f) for f in files]
    if len(set(names)) != len(names):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[
                {
                    "loc": ["body", "files", name],
                    "msg": "stuur elk tabelbestand maar één keer mee",
                    "type": "value_error",
                }
                for name in sorted({n for n in names if names.count(n) > 1})
            ],
        )
    questionnaire = ctx.questionnaire
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for upload, name in zip(files, names, strict=True):
            path = Path(folder) / name
            with path.open("wb") as out:
                while chunk := upload.file.read(1 << 20):
                    out.write(chunk)
            paths.append(path)
        alerts = AlertsOnImport(questionnaire, ctx.settings.alert_window_weeks)
        try:
            reports = import_files(
                ctx.engine, paths, ctx.settings.pseudonym_key, questionnaire, after_write=alerts
            )
        except CsvImportError as exc:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, detail=_error_detail(exc, folder)
            ) from exc
    guard.allow([AuditEntry("ingest", detail=", ".join(f"{r.table}: {r.rows}" for r in reports))])
    return IngestOut(
        reports=[
            ImportReportOut(
                table=r.table,
                file=Path(r.file).name,
                rows=r.rows,
                inserted=r.inserted,
                updated=r.updated,
                unchanged=r.unchanged,
            )
            for r in reports
        ],
        alerts_raised=alerts.raised,
    )
