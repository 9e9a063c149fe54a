"""cases and coachklas over time: actions get an owner, a follow-up date and an outcome; the coachklas gets
a stored capacity and placements with a start, an end and an outcome; synthetic truth gets the hazard
without measures

Existing action codes are renamed to the configured action types (contacted -> conversation,
referred_onderwijsmakelaar -> referral_onderwijsmakelaar, coachklas -> referral_coachklas); placements are
created for every student whose latest coachklas decision was "placed", starting in that decision's week.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-22 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

RENAMED = {
    "contacted": "conversation",
    "referred_onderwijsmakelaar": "referral_onderwijsmakelaar",
    "coachklas": "referral_coachklas",
}


def upgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("follow_up_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("outcome", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("outcome_week", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("outcome_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("outcome_by", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_actions_follow_up_on", "actions", ["follow_up_on"])
    for old, new in RENAMED.items():
        op.execute(
            sa.text("UPDATE actions SET action = :new WHERE action = :old").bindparams(old=old, new=new)
        )
    with op.batch_alter_table("synthetic_truth") as batch:
        batch.add_column(sa.Column("hazard_vsv_untreated", sa.Float(), nullable=True))
    op.create_table(
        "coachklas_capacity",
        sa.Column("capacity_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("from_week", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("user_name", sa.String(length=80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("capacity_id"),
    )
    op.create_index("ix_coachklas_capacity_from_week", "coachklas_capacity", ["from_week"])
    op.create_table(
        "coachklas_placements",
        sa.Column("placement_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("student_id", sa.String(length=32), nullable=False),
        sa.Column("start_week", sa.Integer(), nullable=False),
        sa.Column("end_week", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("user_name", sa.String(length=80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_by", sa.String(length=80), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["student_id"], ["students.student_id"]),
        sa.ForeignKeyConstraint(["decision_id"], ["coachklas_decisions.decision_id"]),
        sa.PrimaryKeyConstraint("placement_id"),
    )
    op.create_index("ix_coachklas_placements_student_id", "coachklas_placements", ["student_id"])
    op.create_index("ix_coachklas_placements_start_week", "coachklas_placements", ["start_week"])
    # A student whose latest decision is "placed" holds a place from that decision's week on.
    op.execute(
        sa.text(
            "INSERT INTO coachklas_placements (student_id, start_week, decision_id, user_name, at) "
            "SELECT d.student_id, d.week, d.decision_id, d.user_name, d.at FROM coachklas_decisions d "
            "WHERE d.decision = 'placed' AND d.decision_id = (SELECT MAX(e.decision_id) "
            "FROM coachklas_decisions e WHERE e.student_id = d.student_id)"
        )
    )


def downgrade() -> None:
    op.drop_index("ix_coachklas_placements_start_week", table_name="coachklas_placements")
    op.drop_index("ix_coachklas_placements_student_id", table_name="coachklas_placements")
    op.drop_table("coachklas_placements")
    op.drop_index("ix_coachklas_capacity_from_week", table_name="coachklas_capacity")
    op.drop_table("coachklas_capacity")
    with op.batch_alter_table("synthetic_truth") as batch:
        batch.drop_column("hazard_vsv_untreated")
    for old, new in RENAMED.items():
        op.execute(
            sa.text("UPDATE actions SET action = :old WHERE action = :new").bindparams(old=old, new=new)
        )
    op.drop_index("ix_actions_follow_up_on", table_name="actions")
    with op.batch_alter_table("actions") as batch:
        for column in (
            "outcome_at",
            "outcome_by",
            "outcome_note",
            "outcome_week",
            "outcome",
            "follow_up_on",
            "owner",
        ):
            batch.drop_column(column)
