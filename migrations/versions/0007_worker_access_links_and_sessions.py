"""worker access links and sessions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 20:49:14.123650
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_links",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("worker_id", sa.String(length=40), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_access_links_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["workers.id"], name=op.f("fk_access_links_worker_id_workers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_links")),
    )
    with op.batch_alter_table("access_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_links_worker_id"), ["worker_id"], unique=False)

    op.create_table(
        "worker_sessions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("worker_id", sa.String(length=40), nullable=False),
        sa.Column("link_id", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["link_id"], ["access_links.id"], name=op.f("fk_worker_sessions_link_id_access_links")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_worker_sessions_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["workers.id"], name=op.f("fk_worker_sessions_worker_id_workers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_worker_sessions_token_hash")),
    )
    with op.batch_alter_table("worker_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_worker_sessions_worker_id"), ["worker_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("worker_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_sessions_worker_id"))

    op.drop_table("worker_sessions")
    with op.batch_alter_table("access_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_links_worker_id"))

    op.drop_table("access_links")
