"""safeguarding queue: severity, assignment, due time, closing reason, and each alert's history of events

Existing alerts get severity 1 when they are for the shipped help item (``wil_praten``: frozen here, a
migration never reads the questionnaire), else 2; their due time is their raising time (so anything still
open shows as overdue, which it is). Nothing is deleted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

HELP_ITEM_AT_THIS_REVISION = "wil_praten"


def upgrade() -> None:
    with op.batch_alter_table("safeguarding_alerts") as batch_op:
        batch_op.add_column(sa.Column("severity", sa.SmallInteger(), nullable=False, server_default="2"))
        batch_op.add_column(sa.Column("assigned_to", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("closed_reason", sa.String(length=40), nullable=True))
        batch_op.create_index("ix_safeguarding_alerts_week", ["week"], unique=False)
    op.execute(
        sa.text("UPDATE safeguarding_alerts SET severity = 1 WHERE item = :item").bindparams(
            item=HELP_ITEM_AT_THIS_REVISION
        )
    )
    op.execute("UPDATE safeguarding_alerts SET due_at = raised_at WHERE due_at IS NULL")
    op.create_table(
        "alert_events",
        sa.Column("event_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_name", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["safeguarding_alerts.alert_id"]),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_alert_events_alert_id", "alert_events", ["alert_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alert_events_alert_id", table_name="alert_events")
    op.drop_table("alert_events")
    with op.batch_alter_table("safeguarding_alerts") as batch_op:
        batch_op.drop_index("ix_safeguarding_alerts_week")
        batch_op.drop_column("closed_reason")
        batch_op.drop_column("due_at")
        batch_op.drop_column("assigned_to")
        batch_op.drop_column("severity")
