"""redaction jobs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "redactions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("source_id", sa.String(length=40), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("fill", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=40), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("item_id", sa.String(length=40), nullable=True),
        sa.Column("audit_sha256", sa.LargeBinary(length=32), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_redactions_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["items.id"], name=op.f("fk_redactions_source_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_redactions_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redactions")),
    )
    with op.batch_alter_table("redactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_redactions_status_lease_until", ["status", "lease_until"], unique=False
        )
        batch_op.create_index(
            "ix_redactions_tenant_source", ["tenant_id", "source_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("redactions", schema=None) as batch_op:
        batch_op.drop_index("ix_redactions_tenant_source")
        batch_op.drop_index("ix_redactions_status_lease_until")

    op.drop_table("redactions")
