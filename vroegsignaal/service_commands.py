"""The serving commands of `vsv` (serve, score, users, safeguarding, audit, retention, subject, backup,
restore), registered on the main Typer app."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from vroegsignaal.common import context_or_fail, fail


def serve(
    host: Annotated[str | None, typer.Option(help="default VSV_HOST (127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="default VSV_PORT (8000)")] = None,
    workers: Annotated[int | None, typer.Option(help="default VSV_WORKERS (1)")] = None,
) -> None:
    """Start the API with uvicorn (the champion model is loaded at start-up)."""
    import uvicorn

    from workflows.exposure import exposure_problems

    ctx = context_or_fail()
    settings = ctx.settings
    host = host or settings.host
    port = port or settings.port
    problems = exposure_problems(settings, host, ctx.engine)
    ctx.close()
    if problems:
        fail("refusing to serve: " + "; ".join(problems))
    # The workers build their settings from the environment: they check the same host at start-up.
    os.environ["VSV_HOST"] = host
    typer.echo(f"Vroegsignaal API on http://{host}:{port} (docs: http://{host}:{port}/docs)")
    uvicorn.run(
        "serving.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers or settings.workers,
        log_level="info",
    )


def score(
    week: Annotated[
        int | None, typer.Option(help="school week to score; default the latest with data")
    ] = None,
    with_previous: Annotated[
        bool, typer.Option("--with-previous", help="score the week before first (for the change)")
    ] = False,
) -> None:
    """Score, explain and store every enrolled student for a week (re-running replaces the week)."""
    from workflows.model_state import load_champion
    from workflows.weekly_job import NoStudentsError, score_week

    ctx = context_or_fail()
    try:
        model = load_champion(ctx.registry)
    except LookupError as exc:
        fail(f"no champion model: {exc}; run `vsv train` and `vsv promote` first")
        return
    week = week if week is not None else ctx.latest_week()
    if week is None:
        fail("the store holds no weekly data; import data first (`vsv import`)")
        return
    for w in (week - 1, week) if with_previous else (week,):
        try:
            result = score_week(
                ctx.engine,
                model.model,
                model.version,
                w,
                ctx.questionnaire,
                chunk_students=ctx.settings.score_chunk_students,
            )
        except (NoStudentsError, RuntimeError, ValueError) as exc:
            fail(str(exc))
            return
        steps = ", ".join(f"{k} {v:.2f}s" for k, v in result.seconds.items())
        typer.echo(
            f"week {w}: scored {result.students:,} students with model version {result.model_version} "
            f"(replaced {result.replaced:,} earlier rows); {steps}"
        )


users_app = typer.Typer(help="Users and their bearer tokens.", no_args_is_help=True)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Option(help="unique user name")],
    role: Annotated[str, typer.Option(help="mentor, zorgteam, coachklas, datateam, auditor or admin")],
    team: Annotated[list[str] | None, typer.Option(help="team of a mentor; repeat for more")] = None,
    ttl_days: Annotated[
        int | None, typer.Option(help="days the token is valid; default VSV_TOKEN_TTL_DAYS (90)")
    ] = None,
) -> None:
    """Add a user and print the bearer token once (only its hash is stored)."""
    from workflows.users import add_user

    ctx = context_or_fail()
    settings = ctx.settings
    try:
        token = add_user(ctx.engine, name, role, team or [], ttl_days=ttl_days or settings.token_ttl_days)
    except ValueError as exc:
        fail(str(exc))
        return
    typer.echo(f"user {name} ({role}) added. Token (shown once, keep it safe):\n{token}")


@users_app.command("list")
def users_list() -> None:
    """List users with their roles and teams (never tokens)."""
    from workflows.users import list_users

    for user in list_users(context_or_fail().engine):
        teams = ",".join(user.teams) or "-"
        state = "revoked" if user.revoked_at else "active" if user.active else "inactive"
        expires = f"expires {user.expires_at:%Y-%m-%d}" if user.expires_at else "no expiry"
        typer.echo(f"{user.name:<24} {user.role:<10} {teams:<30} {state:<8} {expires}")


@users_app.command("revoke")
def users_revoke(name: Annotated[str, typer.Argument(help="the user whose token to revoke")]) -> None:
    """Revoke a user's token at once (a new token: `vsv users add` under a new name, or re-issue)."""
    from workflows.users import revoke_user

    try:
        when = revoke_user(context_or_fail().engine, name)
    except ValueError as exc:
        fail(str(exc))
        return
    typer.echo(f"token of {name} revoked at {when:%Y-%m-%d %H:%M:%S %Z}")


@users_app.command("demo")
def users_demo() -> None:
    """Create one demo user per role (idempotent; not in production) and print their tokens."""
    from workflows.exposure import is_exposed
    from workflows.users import create_demo_users

    ctx = context_or_fail()
    settings = ctx.settings
    if is_exposed(settings, settings.host):
        fail(
            f"demo users are refused in production and on a service that listens beyond this machine "
            f"(VSV_HOST={settings.host})"
        )
    try:
        users = create_demo_users(ctx.engine, settings.pseudonym_key, settings.token_ttl_days)
    except ValueError as exc:
        fail(str(exc))
        return
    typer.echo("Demo users (use as `Authorization: Bearer <token>`):")
    for name, role, team, token in users:
        typer.echo(f"  {name:<18} {role.value:<10} {team or '':<16} {token}")


safeguarding_app = typer.Typer(help="Safeguarding alerts.", no_args_is_help=True)


@safeguarding_app.command("scan")
def safeguarding_scan(
    since_week: Annotated[
        int | None, typer.Option(help="only answers from this week on (never before the recency window)")
    ] = None,
) -> None:
    """Raise alerts for alarming answers in the recency window that have none yet, and close the alerts of
    students who left (the repair path for answers that arrived another way)."""
    from workflows.safeguarding import scan

    ctx = context_or_fail()
    with ctx.engine.begin() as conn:
        result = scan(conn, ctx.questionnaire, ctx.settings.alert_window_weeks, since_week)
    start = "-" if result.window_from_week is None else result.window_from_week
    typer.echo(f"raised {result.raised:,} new safeguarding alerts (answers from week {start} on)")
    typer.echo(f"closed {result.closed_for_leavers:,} alerts of students who are no longer enrolled")


audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    expect_head: Annotated[
        str | None, typer.Option(help="head hash recorded earlier (detects deleting the newest entries)")
    ] = None,
) -> None:
    """Walk the audit log's hash chain; exit 1 naming the first edited, deleted or foreign entry."""
    from workflows.audit import verify_chain

    report = verify_chain(context_or_fail().engine, expect_head)
    if not report.ok:
        where = (
            f"entry audit_id={report.broken_audit_id} (seq {report.broken_seq})"
            if report.broken_audit_id is not None
            else "the chain's head"
        )
        fail(
            f"audit log BROKEN at {where}: {report.reason} ({report.head_seq:,} entries intact before it)", 1
        )
    typer.echo(
        f"audit log intact: {report.entries:,} entries; head seq {report.head_seq} hash {report.head_hash}"
    )


retention_app = typer.Typer(help="Retention of personal data.", no_args_is_help=True)


@retention_app.command("apply")
def retention_apply(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would go; delete nothing")] = False,
    now_week: Annotated[
        int | None, typer.Option(help="the current school week; default the latest week in the store")
    ] = None,
) -> None:
    """Delete raw data and scores older than VSV_RETENTION_RAW_WEEKS / VSV_RETENTION_SCORE_WEEKS."""
    from workflows.privacy import apply_retention

    ctx = context_or_fail()
    settings = ctx.settings
    report = apply_retention(ctx.engine, settings, now_week=now_week, dry_run=dry_run)
    if report.now_week is None:
        typer.echo("the store holds no weekly data; nothing to do")
        return
    verb = "would delete" if dry_run else "deleted"
    typer.echo(
        f"now week {report.now_week}: raw data before week {report.raw_before_week}, scores before week "
        f"{report.scores_before_week}; {report.students_removed:,} ended enrolments removed entirely"
    )
    for name, count in sorted(report.deleted.items()):
        typer.echo(f"  {verb} {count:>9,} rows from {name}")
    if not report.deleted:
        typer.echo(f"  {verb} nothing")
    oldest = f"{report.oldest_audit_entry:%Y-%m-%d}" if report.oldest_audit_entry else "-"
    typer.echo(
        f"audit log kept whole: {report.audit_entries_kept:,} entries since {oldest} "
        f"(append-only; kept at least {settings.audit_retention_min_weeks} weeks)"
    )


subject_app = typer.Typer(help="GDPR access and erasure for one pseudonymised student.", no_args_is_help=True)


@subject_app.command("export")
def subject_export(
    student_id: Annotated[str, typer.Argument(help="the student's pseudonym (student_id)")],
    out: Annotated[Path, typer.Option("--out", help="JSON file to write")],
) -> None:
    """Write every row about one student (and who accessed their data) to a JSON file."""
    import json

    from workflows.privacy import export_subject

    try:
        data = export_subject(context_or_fail().engine, student_id)
    except LookupError as exc:
        fail(str(exc))
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    tables = data["tables"]
    assert isinstance(tables, dict)
    total = sum(len(rows) for rows in tables.values())
    typer.echo(f"wrote {total:,} rows about {student_id} to {out}")


@subject_app.command("erase")
def subject_erase(
    student_id: Annotated[str, typer.Argument(help="the student's pseudonym (student_id)")],
    reason: Annotated[str, typer.Option("--reason", help="why (e.g. the erasure request's reference)")],
) -> None:
    """Delete every row about one student in one transaction; the erasure is logged in the audit log."""
    from workflows.privacy import erase_subject

    try:
        counts = erase_subject(context_or_fail().engine, student_id, reason)
    except (LookupError, ValueError) as exc:
        fail(str(exc))
        return
    typer.echo(f"erased {student_id}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))


def backup_command(
    out: Annotated[Path, typer.Option("--out", help="zip file to write")],
) -> None:
    """Back up the whole store to a portable zip file (JSON lines per table, with checksums)."""
    from workflows.backup import backup

    summary = backup(context_or_fail().engine, out)
    typer.echo(
        f"backed up {sum(summary.rows.values()):,} rows in {len(summary.rows)} tables "
        f"(schema {summary.revision}) to {out}"
    )


def restore_command(
    path: Annotated[Path, typer.Argument(help="a file written by `vsv backup`")],
) -> None:
    """Restore a backup into an empty store (VSV_DATABASE_URL), then check the audit log's chain."""
    from workflows.audit import verify_chain
    from workflows.backup import restore

    engine = context_or_fail().engine
    try:
        summary = restore(engine, path)
    except (ValueError, OSError) as exc:
        fail(str(exc))
        return
    report = verify_chain(engine)
    typer.echo(f"restored {sum(summary.rows.values()):,} rows in {len(summary.rows)} tables from {path}")
    if not report.ok:
        fail(f"the restored audit log is BROKEN at audit_id={report.broken_audit_id}: {report.reason}", 1)
    typer.echo(f"audit log intact: {report.entries:,} entries")


def register(app: typer.Typer) -> None:
    """Add the serving commands to ``app``."""
    app.command("serve")(serve)
    app.command("score")(score)
    app.add_typer(users_app, name="users")
    app.add_typer(safeguarding_app, name="safeguarding")
    app.add_typer(audit_app, name="audit")
    app.add_typer(retention_app, name="retention")
    app.add_typer(subject_app, name="subject")
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
