"""One timeline per student: everything that happened around them, in school weeks, newest first.

Actions and notes (and, later, what came of them), band changes between scored weeks, band overrides,
zorgmeldingen and how the zorgteam handled them (the zorgteam's notes only for the roles that read the
queue), coachklas decisions, placements and how they ended, and the outcome when the student left. Built
from the stored rows by one pure function, shared by the API and the student page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from data.action_types import ActionTypes
from data.schema import (
    AlertEvent,
    BandOverride,
    CoachklasDecision,
    CoachklasPlacement,
    Outcome,
    SafeguardingAlert,
    StudentAction,
)
from data.vocabulary import ACTION_OUTCOME_NL, DECISION_NL, OUTCOME_NL, PLACEMENT_OUTCOME_NL

# The event codes of workflows.safeguarding (its statuses, and "toegewezen") as the timeline says them.
ALERT_EVENT_NL = {
    "toegewezen": "zorgmelding toegewezen",
    "in behandeling": "zorgmelding in behandeling genomen",
    "gesloten": "zorgmelding afgesloten",
    "heropend": "zorgmelding heropend: de student vroeg opnieuw om hulp",
}


@dataclass(frozen=True, kw_only=True)
class TimelineEvent:
    week: int
    at: datetime | None  # when it was recorded (None for what the data hold by week only)
    kind: str  # action, outcome, band_change, override, alert, alert_event, decision, placement, left
    title: str  # what happened, in Dutch
    detail: str | None = None  # a note or reason, when the viewer may read it
    by: str | None = None


def _utc(at: datetime | None) -> datetime | None:
    """SQLite hands back times without their zone; all stored times are UTC."""
    return at if at is None or at.tzinfo else at.replace(tzinfo=UTC)


def band_changes(bands: Sequence[tuple[int, str]]) -> list[TimelineEvent]:
    """A change of band from one scored week to the next (``bands`` as (week, band), any order)."""
    out: list[TimelineEvent] = []
    previous: str | None = None
    for week, band in sorted(bands):
        if previous is not None and band != previous:
            out.append(
                TimelineEvent(
                    week=week, at=None, kind="band_change", title=f"band van {previous} naar {band}"
                )
            )
        previous = band
    return out


def action_events(actions: Sequence[StudentAction], types: ActionTypes) -> list[TimelineEvent]:
    out: list[TimelineEvent] = []
    for a in actions:
        title = types.label(a.action)
        if a.follow_up_on is not None:
            title += f" (opvolgen op {a.follow_up_on.strftime('%d-%m-%Y')}, door {a.owner or a.user_name})"
        out.append(
            TimelineEvent(
                week=a.week, at=_utc(a.at), kind="action", title=title, detail=a.note, by=a.user_name
            )
        )
        if a.outcome is not None:
            out.append(
                TimelineEvent(
                    week=a.outcome_week if a.outcome_week is not None else a.week,
                    at=_utc(a.outcome_at),
                    kind="outcome",
                    title=f"uitkomst van '{types.label(a.action)}': "
                    + ACTION_OUTCOME_NL.get(a.outcome, a.outcome),
                    detail=a.outcome_note,
                    by=a.outcome_by,
                )
            )
    return out


def override_events(overrides: Sequence[BandOverride]) -> list[TimelineEvent]:
    return [
        TimelineEvent(
            week=o.week,
            at=_utc(o.at),
            kind="override",
            title=f"band overschreven: {o.model_band} naar {o.band}",
            detail=o.reason,
            by=o.user_name,
        )
        for o in overrides
    ]


def alert_events(
    alerts: Sequence[SafeguardingAlert], events: Sequence[AlertEvent], *, show_care_notes: bool
) -> list[TimelineEvent]:
    """Zorgmeldingen and their handling; notes only with ``show_care_notes`` (the zorgteam's roles)."""
    week_of = {a.alert_id: a.week for a in alerts}
    out = [
        TimelineEvent(week=a.week, at=_utc(a.raised_at), kind="alert", title=f"zorgmelding: {a.reason}")
        for a in alerts
    ]
    out += [
        TimelineEvent(
            week=week_of[e.alert_id],
            at=_utc(e.at),
            kind="alert_event",
            title=ALERT_EVENT_NL.get(e.action, f"zorgmelding: {e.action}"),
            detail=e.note if show_care_notes else None,
            by=e.user_name,
        )
        for e in events
        if e.alert_id in week_of
    ]
    return out


def coachklas_events(
    decisions: Sequence[CoachklasDecision], placements: Sequence[CoachklasPlacement]
) -> list[TimelineEvent]:
    out = [
        TimelineEvent(
            week=d.week,
            at=_utc(d.at),
            kind="decision",
            title=f"coachklas: {DECISION_NL.get(d.decision, d.decision).lower()}",
            detail=d.reason,
            by=d.user_name,
        )
        for d in decisions
    ]
    for p in placements:
        out.append(
            TimelineEvent(
                week=p.start_week,
                at=_utc(p.at),
                kind="placement",
                title="begonnen in de coachklas",
                by=p.user_name,
            )
        )
        if p.end_week is not None:
            outcome = PLACEMENT_OUTCOME_NL.get(p.outcome or "", p.outcome or "onbekend")
            out.append(
                TimelineEvent(
                    week=p.end_week,
                    at=_utc(p.ended_at),
                    kind="placement",
                    title=f"coachklas beëindigd: {outcome}",
                    detail=p.note,
                    by=p.ended_by,
                )
            )
    return out


def outcome_events(outcome: Outcome | None) -> list[TimelineEvent]:
    if outcome is None:
        return []
    text = OUTCOME_NL.get(outcome.outcome, outcome.outcome)
    return [TimelineEvent(week=outcome.week, at=None, kind="left", title=f"uitgeschreven: {text}")]


def newest_first(events: Sequence[TimelineEvent]) -> list[TimelineEvent]:
    """By week, then by the moment recorded (what the data hold by week only comes first in its week)."""
    floor = datetime.min.replace(tzinfo=UTC)
    return sorted(events, key=lambda e: (e.week, e.at or floor), reverse=True)
