"""CSV ingest over HTTP: the same validated, atomic, idempotent import as ``vsv import`` (data team)."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.formparsers import MultiPartException

from data.context import DeploymentContext
from data.contracts import CONTRACTS
from data.csv_io import CsvImportError, RowError, import_files
from serving.deps import ContextDep, Guard, require
from serving.routes.common import api_router
from serving.schemas import ImportReportOut, IngestOut, MessageOut
from workflows.audit import AuditEntry
from workflows.safeguarding import AlertsOnImport
from workflows.users import DATA_TEAM

router = api_router("/api/v1/ingest", ["ingest"])
DataTeam = Annotated[Guard, Depends(require(DATA_TEAM, "ingest"))]


UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": MessageOut, "description": "The upload is over VSV_MAX_UPLOAD_BYTES"},
    # FastAPI's own validation-error shape (detail: a list of {loc, msg, type}), as every other 422.
    422: {
        "description": "Bad files; nothing was written",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
    },
}
# Files in one upload (one per table, at most); the bytes are limited by serving.limits.
MAX_FILES = 20


def _unprocessable(name: str, message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[{"loc": ["body", "files", name], "msg": message, "type": "value_error"}],
    )


def _file_name(filename: str | None) -> str:
    name = Path(filename or "").name
    if name.split(".")[0] not in CONTRACTS or not name.endswith(".csv"):
        raise _unprocessable(
            name or "?", f"noem het bestand <tabel>.csv met tabel een van {', '.join(CONTRACTS)}"
        )
    return name


def _kind(problem: str) -> str:
    """A problem without the cell's value (``'x' is not a number`` -> ``is not a number``), to count by."""
    return problem.split("' ", 1)[1] if problem.startswith("'") and "' " in problem else problem


def error_detail(exc: CsvImportError, folder: str, limit: int) -> list[dict[str, Any]]:
    """The 422 detail: the first ``limit`` problems one by one, then one entry per file, column and kind
    of problem counting the rest (so a file that is wrong throughout gives a short answer)."""
    listed: list[dict[str, Any]] = []
    counted: Counter[tuple[str, str, str]] = Counter()
    for error in exc.errors:
        if isinstance(error, RowError):
            file = Path(error.file).name
            if len(listed) < limit:
                listed.append(
                    {
                        "loc": ["body", "files", file, error.line, error.column],
                        "msg": error.problem,
                        "type": "value_error",
                    }
                )
                if error.also:
                    counted[(file, error.column, _kind(error.problem))] += error.also
            else:
                counted[(file, error.column, _kind(error.problem))] += 1 + error.also
        elif len(listed) < limit:
            listed.append(
                {"loc": ["body", "files"], "msg": str(error).replace(folder + "/", ""), "type": "value_error"}
            )
        else:
            counted[("", "", str(error).replace(folder + "/", ""))] += 1
    summary = [
        {
            "loc": ["body", "files", file, column] if file else ["body", "files"],
            "msg": f"nog {n} regel(s) met hetzelfde probleem: {kind}",
            "type": "value_error.more",
        }
        for (file, column, kind), n in sorted(counted.items())
    ]
    return listed + summary


async def _save_uploads(request: Request, folder: Path) -> list[Path]:
    """The uploaded files, written to ``folder`` under their table names; 422 for a bad upload."""
    try:
        form = await request.form(max_files=MAX_FILES, max_fields=MAX_FILES)
    except (MultiPartException, ValueError, UnicodeDecodeError) as exc:
        raise _unprocessable("?", f"geen geldig multipart-formulier met bestanden ({exc})") from exc
    try:
        uploads = [f for f in form.getlist("files") if isinstance(f, StarletteUpload)]
        if not uploads:
            raise _unprocessable("?", "stuur een of meer <tabel>.csv-bestanden in het veld 'files'")
        names = [_file_name(f.filename) for f in uploads]
        doubles = sorted({n for n in names if names.count(n) > 1})
        if doubles:
            raise _unprocessable(doubles[0], "stuur elk tabelbestand maar één keer mee")
        paths = []
        for upload, name in zip(uploads, names, strict=True):
            path = folder / name
            with path.open("wb") as out:
                while chunk := await upload.read(1 << 20):
                    out.write(chunk)
            paths.append(path)
        return paths
    finally:
        await form.close()


@router.post(
    "",
    response_model=IngestOut,
    summary="Import <table>.csv files: all or nothing, idempotent; safeguarding alerts are raised at once",
    responses=UPLOAD_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["files"],
                        "properties": {
                            "files": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                                "description": "One or more <table>.csv files",
                            }
                        },
                    }
                }
            },
        }
    },
)
async def ingest(request: Request, ctx: ContextDep, guard: DataTeam) -> IngestOut:
    """The role is checked before a byte of the upload is read (the upload is not a parameter, so FastAPI
    does not parse it before the dependencies); its size is limited by :mod:`serving.limits`."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            paths = await _save_uploads(request, Path(folder))
        except HTTPException as exc:
            await run_in_threadpool(_refused, guard, f"upload: {exc.detail}")
            raise
        return await run_in_threadpool(_import, paths, folder, ctx, guard)


def _refused(guard: Guard, detail: object) -> None:
    guard.allow([AuditEntry("ingest_refused", detail=str(detail))])


def _import(paths: list[Path], folder: str, ctx: DeploymentContext, guard: Guard) -> IngestOut:
    alerts = AlertsOnImport(ctx.questionnaire, ctx.settings.alert_window_weeks)
    try:
        reports = import_files(
            ctx.engine,
            paths,
            ctx.settings.pseudonym_key,
            ctx.questionnaire,
            after_write=alerts,
            calendar=ctx.calendar,
        )
    except CsvImportError as exc:
        _refused(guard, f"{', '.join(p.name for p in paths)}: {exc.total} problemen, niets geschreven")
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=error_detail(exc, folder, ctx.settings.max_listed_errors),
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
