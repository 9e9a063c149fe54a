"""Names for the people who need them: who a pseudonym is, shown only to the roles that work with students.

The identity table (``identities``: the school's student number and the name per pseudonym) is kept apart
from the pseudonymised tables: no feature, model, monitoring report or export of those tables reads it.

* :func:`display_names`: names to show beside pseudonyms. A mentor sees the names of the students of their
  own teams; the zorgteam, the coachklas coordinator and admin see every name. The data team and auditors
  never get a name from it (auditors work with pseudonyms).
* :func:`auditor_lookup`: an auditor (or admin) who must know who a pseudonym is asks with a documented
  reason; the lookup and its reason are written to the audit log before the identity is returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from data.schema import Identity, Student
from workflows.audit import AuditEntry
from workflows.users import CurrentUser, Role

# Who sees names beside pseudonyms (mentors only for their own teams); never the data team or auditors.
SEE_NAMES = frozenset({Role.MENTOR, Role.ZORGTEAM, Role.COACHKLAS, Role.ADMIN})
# Who may look up one identity with a documented reason (audited).
LOOKUP_IDENTITY = frozenset({Role.AUDITOR, Role.ADMIN})
LOOKUP_ACTION = "identity_lookup"
MIN_REASON_LENGTH = 10
_CHUNK = 500


@dataclass(frozen=True)
class StudentName:
    """How to show one student: the name, else the student number, else the pseudonym (``missing``).

    ``student_number`` is "" when the store does not know it (no identity row)."""

    name: str
    student_number: str
    missing: bool


@dataclass(frozen=True)
class IdentityRecord:
    """One row of the identity table, as an auditor's lookup returns it."""

    student_id: str
    student_number: str
    given_name: str
    name_prefix: str | None
    family_name: str
    email: str | None

    @property
    def name(self) -> str:
        return full_name(self.given_name, self.name_prefix, self.family_name)


class AccessGuard(Protocol):
    """What a lookup needs of the request: the user, and a way to log an allowed access before returning
    data (``serving.deps.Guard`` is one)."""

    @property
    def user(self) -> CurrentUser: ...

    def allow(self, entries: Iterable[AuditEntry]) -> None: ...


def full_name(given_name: str | None, name_prefix: str | None, family_name: str | None) -> str:
    """The name as staff say it: "Daniël van der Veen" (empty parts left out)."""
    return " ".join(part.strip() for part in (given_name, name_prefix, family_name) if part and part.strip())


def may_see_names(viewer: CurrentUser) -> bool:
    """True for the roles that see names at all (a mentor still only for their own teams)."""
    return viewer.role in SEE_NAMES


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


# The identity's columns, selected beside the student (outer join: None when there is no identity row).
IDENTITY_COLUMNS = (
    Identity.student_id.label("identity_id"),
    Identity.student_number,
    Identity.given_name,
    Identity.name_prefix,
    Identity.family_name,
    Identity.email,
)


def student_name(row: Any) -> StudentName:
    """How to show the student of ``row`` (``student_id`` and :data:`IDENTITY_COLUMNS`, outer-joined)."""
    if row.identity_id is None:
        return StudentName(row.student_id, "", True)
    name = full_name(row.given_name, row.name_prefix, row.family_name)
    if name:
        return StudentName(name, row.student_number, False)
    return StudentName(row.student_number or row.student_id, row.student_number or "", True)


def display_names(
    session: Session | Connection, viewer: CurrentUser, student_ids: Iterable[str]
) -> dict[str, StudentName]:
    """Names of ``student_ids`` that ``viewer`` may see, by pseudonym.

    Students the viewer may not see by name (the data team and auditors: none; a mentor: those outside
    their teams; unknown pseudonyms) are left out: show them by pseudonym. A student the viewer may see
    without an identity row comes back with ``missing=True``, named by student number if the store knows
    it, else by pseudonym.
    """
    if not may_see_names(viewer):
        return {}
    wanted = sorted(set(student_ids))
    out: dict[str, StudentName] = {}
    for chunk in _chunks(wanted):
        rows = session.execute(
            select(Student.student_id, Student.team, *IDENTITY_COLUMNS)
            .outerjoin(Identity, Identity.student_id == Student.student_id)
            .where(Student.student_id.in_(chunk))
        ).all()
        for row in rows:
            if viewer.may_see_team(row.team):
                out[row.student_id] = student_name(row)
    return out


def name_fields(names: Mapping[str, StudentName], student_id: str) -> dict[str, str | None]:
    """``name`` and ``student_number`` of one student for a response, from :func:`display_names`'s
    result: both None for a student the viewer may not see by name (and the number None when unknown)."""
    known = names.get(student_id)
    if known is None:
        return {"name": None, "student_number": None}
    return {"name": known.name, "student_number": known.student_number or None}


def auditor_lookup(
    session: Session | Connection, guard: AccessGuard, student_id: str, reason: str
) -> IdentityRecord | None:
    """Who ``student_id`` is, for an auditor (or admin) with a documented reason; audited.

    Raises PermissionError for any other role, ValueError for a reason shorter than
    :data:`MIN_REASON_LENGTH` characters and LookupError for an unknown student (nothing is returned, so
    nothing is logged as seen). Otherwise the lookup, with its reason, is written to the audit log before
    the identity is returned (None when the store holds no identity for the student).
    """
    if guard.user.role not in LOOKUP_IDENTITY:
        raise PermissionError(f"the role {guard.user.role} may not look up identities")
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(f"a lookup needs a reason of at least {MIN_REASON_LENGTH} characters")
    row = session.execute(
        select(Student.student_id, Student.team, *IDENTITY_COLUMNS)
        .outerjoin(Identity, Identity.student_id == Student.student_id)
        .where(Student.student_id == student_id)
    ).first()
    if row is None:
        raise LookupError(f"student {student_id} is unknown")
    found = "gevonden" if row.identity_id is not None else "geen naamgegevens"
    guard.allow([AuditEntry(LOOKUP_ACTION, student_id, row.team, None, f"reden: {reason} ({found})")])
    if row.identity_id is None:
        return None
    return IdentityRecord(
        student_id=row.student_id,
        student_number=row.student_number,
        given_name=row.given_name,
        name_prefix=row.name_prefix,
        family_name=row.family_name,
        email=row.email,
    )
