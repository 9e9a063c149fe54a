"""questionnaire rounds: personal links per student and round, their hashed tokens, and the outbox of
invitations and reminders

A round asks the enrolled students of one team one week's questionnaire. Each student gets one link per
round; a link is reached through one or more tokens (stored as SHA-256 hashes only: one per delivery, for
answering or for the student's own view). The outbox records every invitation and reminder, its attempts and
its last error, so that a send that failed is retried and nothing is lost.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "questionnaire_rounds",
        sa.Column("round_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("week", sa.Integer(), nullable=False),
        sa.Column("team", sa.String(length=40), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=80), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("round_id"),
        sa.UniqueConstraint("week", "team", name="uq_round_week_team"),
    )
    op.create_table(
        "round_links",
        sa.Column("link_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["round_id"], ["questionnaire_rounds.round_id"]),
        sa.ForeignKeyConstraint(["student_id"], ["students.student_id"]),
        sa.PrimaryKeyConstraint("link_id"),
        sa.UniqueConstraint("round_id", "student_id", name="uq_link_round_student"),
    )
    op.create_index("ix_round_links_student_id", "round_links", ["student_id"])
    op.create_table(
        "link_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["link_id"], ["round_links.link_id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_link_tokens_link_id", "link_tokens", ["link_id"])
    op.create_table(
        "outbox_messages",
        sa.Column("message_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["link_id"], ["round_links.link_id"]),
        sa.PrimaryKeyConstraint("message_id"),
        sa.UniqueConstraint("link_id", "kind", name="uq_outbox_link_kind"),
    )
    op.create_index("ix_outbox_messages_status", "outbox_messages", ["status"])


def downgrade() -> None:
    op.drop_index("ix_outbox_messages_status", table_name="outbox_messages")
    op.drop_table("outbox_messages")
    op.drop_index("ix_link_tokens_link_id", table_name="link_tokens")
    op.drop_table("link_tokens")
    op.drop_index("ix_round_links_student_id", table_name="round_links")
    op.drop_table("round_links")
    op.drop_table("questionnaire_rounds")
