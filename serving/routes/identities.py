"""Who a pseudonym is, for an auditor with a documented reason: every lookup is in the audit log."""

from __future__ import annotations

from serving.deps import GuardDep, SessionDep
from serving.routes.common import api_router, errors, not_found
from serving.schemas import IdentityLookupIn, IdentityOut
from workflows.audit import AuditEntry
from workflows.identity import LOOKUP_ACTION, LOOKUP_IDENTITY, auditor_lookup

router = api_router("/api/v1/identities", ["identities"])


@router.post(
    "/lookup",
    response_model=IdentityOut,
    summary="Who a pseudonym is (auditors, with a documented reason; the lookup and reason are audited)",
    responses=errors(404, 422),
)
def lookup(body: IdentityLookupIn, session: SessionDep, guard: GuardDep) -> IdentityOut:
    # The role is checked here, after the body, so that a refusal is logged with the student asked for.
    guard.check_role(LOOKUP_IDENTITY, AuditEntry(LOOKUP_ACTION, body.student_id))
    try:
        found = auditor_lookup(session, guard, body.student_id, body.reason)
    except LookupError as exc:
        raise not_found(f"Student {body.student_id} is onbekend.") from exc
    if found is None:
        raise not_found(f"Van student {body.student_id} zijn geen naamgegevens bekend.")
    return IdentityOut(
        student_id=found.student_id,
        student_number=found.student_number,
        name=found.name,
        given_name=found.given_name,
        name_prefix=found.name_prefix,
        family_name=found.family_name,
        email=found.email,
    )
