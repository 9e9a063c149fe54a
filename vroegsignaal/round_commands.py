"""`vsv rounds`: open a week's questionnaire round, send the invitations, remind, and see the response."""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from data.context import DeploymentContext
from vroegsignaal.common import context_or_fail, fail

rounds_app = typer.Typer(
    help="The weekly questionnaire asked by Vroegsignaal: rounds, personal links, e-mail.",
    no_args_is_help=True,
)
LINK_COLUMNS = (
    "student_number",
    "student_id",
    "team",
    "week",
    "week_label",
    "answer_url",
    "view_url",
    "expires_at",
)


def _write_links(ctx: DeploymentContext, out: Path, issued: list[object]) -> None:
    """The CSV of links, written whole or not at all, readable by its owner only (it holds keys)."""
    from data.calendar import week_label_or_fallback
    from workflows.rounds import IssuedLink

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(LINK_COLUMNS)
        for link in issued:
            assert isinstance(link, IssuedLink)
            writer.writerow(
                [
                    link.student_number or "",
                    link.student_id,
                    link.team,
                    link.week,
                    week_label_or_fallback(ctx.calendar, link.week),
                    link.answer_url,
                    link.view_url,
                    link.expires_at.isoformat(timespec="minutes"),
                ]
            )
    partial.replace(out)


def _send(ctx: DeploymentContext) -> None:
    """Send what is due in the outbox, with a progress bar; say so when no SMTP server is configured."""
    from workflows.mailer import SmtpMailer, smtp_settings
    from workflows.rounds import due_count, send_outbox

    settings = ctx.settings
    with ctx.engine.connect() as conn:
        due = due_count(conn, datetime.now(UTC), settings.max_send_attempts)
    smtp = smtp_settings(settings)
    if smtp is None:
        typer.echo(
            f"{due:,} e-mail(s) wait in the outbox: VSV_SMTP_HOST is not set (then run `vsv rounds send`)"
        )
        return
    if not due:
        typer.echo("no e-mails to send")
        return
    mailer = SmtpMailer(smtp, settings.school_name, ctx.calendar)
    with typer.progressbar(length=int(due), label="sending") as bar:
        done = [0]

        def progress(handled: int) -> None:
            bar.update(handled - done[0])
            done[0] = handled

        report = send_outbox(
            ctx.engine,
            mailer,
            base_url=settings.public_url,
            max_attempts=settings.max_send_attempts,
            progress=progress,
        )
    typer.echo(f"sent {report.sent:,}, failed {report.failed:,}")
    for error in report.errors[:5]:
        typer.secho(f"  {error}", fg=typer.colors.YELLOW, err=True)
    if report.failed:
        typer.echo("failed e-mails stay in the outbox and are retried by the next `vsv rounds send`")


def default_round_week(ctx: DeploymentContext) -> int:
    """This week by the school calendar; when the store is ahead of it or today lies outside it (a demo
    store, whose weeks lie in the past), the latest week in the store."""
    from data.calendar import current_week

    today = current_week(ctx.calendar, datetime.now(UTC).date())
    latest = ctx.latest_week()
    if today is not None and (latest is None or today >= latest):
        return today
    if latest is None:
        fail("the store holds no weekly data yet and today is outside the school calendar: name the week")
    return latest


@rounds_app.command("open")
def rounds_open(
    week: Annotated[
        int | None,
        typer.Option(
            help="school week of the round; default: this week by the school calendar, or the latest "
            "week in the store when that is later or today is outside the calendar (a demo store)"
        ),
    ] = None,
    team: Annotated[
        list[str] | None, typer.Option(help="a team (repeat for more); default: every team")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="also write every student's personal links to this CSV")
    ] = None,
    send: Annotated[bool, typer.Option(help="send the invitations now (when VSV_SMTP_HOST is set)")] = True,
) -> None:
    """Open the round of WEEK: a personal link for every enrolled student, invitations queued (and sent)."""
    from workflows.audit import AuditEntry, append_rows, audit_row
    from workflows.privacy import operator
    from workflows.rounds import open_rounds

    ctx = context_or_fail()
    by = operator()
    if week is None:
        week = default_round_week(ctx)
    try:
        with ctx.engine.begin() as conn:
            report = open_rounds(
                conn,
                week=week,
                teams=team or None,
                by=by,
                now=datetime.now(UTC),
                link_days=ctx.settings.round_link_days,
                base_url=ctx.settings.public_url,
                csv=out is not None,
            )
            entries = [
                AuditEntry("round_open", None, t, week, "vragenlijstronde geopend") for t in report.opened
            ]
            if out is not None and report.issued:
                entries.append(
                    AuditEntry(
                        "export_links",
                        None,
                        None,
                        week,
                        f"{len(report.issued)} persoonlijke links naar {out}",
                        students=[link.student_id for link in report.issued],
                    )
                )
            append_rows(
                conn, [audit_row(None, by, "admin", "CLI", "vsv rounds open", e, True) for e in entries]
            )
            if out is not None and report.issued:
                _write_links(ctx, out, list(report.issued))
    except ValueError as exc:
        fail(str(exc))
        return
    typer.echo(
        f"week {week}: opened {len(report.opened)} round(s) with {report.links:,} links; "
        f"{report.queued:,} invitation(s) queued, {report.without_address:,} student(s) without an e-mail "
        "address"
    )
    if report.already_open:
        typer.echo(f"already open (left as they were): {', '.join(report.already_open)}")
    if out is not None and report.issued:
        typer.echo(f"wrote {len(report.issued):,} personal links to {out} (keep it safe: each link is a key)")
    elif out is not None:
        typer.echo(
            f"no new links, so {out} was left as it was (tokens are stored hashed and cannot be shown again)"
        )
    if send:
        _send(ctx)


@rounds_app.command("send")
def rounds_send() -> None:
    """Send the invitations and reminders waiting in the outbox (failed ones are retried)."""
    _send(context_or_fail())


@rounds_app.command("remind")
def rounds_remind(
    send: Annotated[bool, typer.Option(help="send the reminders now (when VSV_SMTP_HOST is set)")] = True,
) -> None:
    """Queue one reminder for students who have not answered VSV_REMINDER_AFTER_DAYS after the opening."""
    from workflows.rounds import queue_reminders

    ctx = context_or_fail()
    with ctx.engine.begin() as conn:
        queued = queue_reminders(conn, now=datetime.now(UTC), after_days=ctx.settings.reminder_after_days)
    typer.echo(f"{queued:,} reminder(s) queued")
    if send:
        _send(ctx)


@rounds_app.command("status")
def rounds_status(week: Annotated[int | None, typer.Option(help="only this school week")] = None) -> None:
    """The response per team and round: links, sent, opened, answered, reminded, waiting, failed."""
    from data.calendar import week_label_or_fallback
    from data.rounds import round_responses

    ctx = context_or_fail()
    with ctx.engine.connect() as conn:
        rows = round_responses(conn, weeks=[week] if week is not None else None)
    if not rows:
        typer.echo("no rounds yet: `vsv rounds open --week W`")
        return
    typer.echo(
        f"{'week':<22} {'team':<14} {'links':>6} {'sent':>6} {'opened':>7} {'answered':>9} {'reminded':>9} "
        f"{'waiting':>8} {'failed':>7}"
    )
    for r in rows:
        rate = f" ({r.rate:.0%})" if r.rate is not None else ""
        typer.echo(
            f"{week_label_or_fallback(ctx.calendar, r.week):<22} {r.team:<14} {r.students:>6} {r.sent:>6} "
            f"{r.opened:>7} {r.answered:>9}{rate} {r.reminded:>9} {r.waiting:>8} {r.failed:>7}"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(rounds_app, name="rounds")
