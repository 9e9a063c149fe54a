"""Who a pseudonym is, for an auditor with a documented reason: every lookup is in the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from serving.deps import Guard, SessionDep, require
from serving.routes.common import errors, not_found
from serving.schemas import IdentityLookupIn, IdentityOut
from workflows.identity import LOOKUP_ACTION, LOOKUP_IDENTITY, auditor_lookup

router = APIRouter(prefix="/api/v1/identities", tags=["identities"])
Auditor = Annotated[Guard, Depends(require(LOOKUP_IDENTITY, LOOKUP_ACTION))]


@router.post(
    "/lookup",
    response_model=IdentityOut,
    summary="Who a pseudonym is (auditors, with a documented reason; the lookup and reason are audited)",
    responses=errors(404, 422),
)
def lookup(body: IdentityLookupIn, session: SessionDep, guard: Auditor) -> IdentityOut:
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
