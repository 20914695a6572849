"""items lineage and use decisions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_policies_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "version", name=op.f("pk_policies")),
    )
    op.create_table(
        "worker_keys",
        sa.Column("worker_id", sa.String(length=40), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(length=80), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["workers.id"], name=op.f("fk_worker_keys_worker_id_workers")
        ),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_worker_keys")),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("sha256", sa.LargeBinary(length=32), nullable=True),
        sa.Column("salt", sa.LargeBinary(length=16), nullable=True),
        sa.Column("commitment", sa.LargeBinary(length=32), nullable=False),
        sa.Column("worker_id", sa.String(length=40), nullable=True),
        sa.Column("consent_id", sa.String(length=40), nullable=True),
        sa.Column("data_categories", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("delete_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("content_size", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["consent_id"], ["consents.id"], name=op.f("fk_items_consent_id_consents")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_items_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["workers.id"], name=op.f("fk_items_worker_id_workers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
    )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_items_consent_id"), ["consent_id"], unique=False)
        batch_op.create_index("ix_items_tenant_sha256", ["tenant_id", "sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_items_worker_id"), ["worker_id"], unique=False)

    op.create_table(
        "item_parents",
        sa.Column("child_id", sa.String(length=40), nullable=False),
        sa.Column("parent_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_id"], ["items.id"], name=op.f("fk_item_parents_child_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["items.id"], name=op.f("fk_item_parents_parent_id_items")
        ),
        sa.PrimaryKeyConstraint("child_id", "parent_id", name=op.f("pk_item_parents")),
    )
    with op.batch_alter_table("item_parents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_parents_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "item_roots",
        sa.Column("item_id", sa.String(length=40), nullable=False),
        sa.Column("clip_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["clip_id"], ["items.id"], name=op.f("fk_item_roots_clip_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_item_roots_item_id_items")
        ),
        sa.PrimaryKeyConstraint("item_id", "clip_id", name=op.f("pk_item_roots")),
    )
    with op.batch_alter_table("item_roots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_roots_clip_id"), ["clip_id"], unique=False)

    op.create_table(
        "use_decisions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("item_id", sa.String(length=40), nullable=True),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("api_key_id", sa.String(length=40), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_use_decisions_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_use_decisions_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_use_decisions")),
    )
    with op.batch_alter_table("use_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_use_decisions_item_id"), ["item_id"], unique=False)
        batch_op.create_index("ix_use_decisions_tenant_at", ["tenant_id", "at"], unique=False)

    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("superseded_by", sa.String(length=40), nullable=True))
    with op.batch_alter_table("logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("epoch", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("logs", schema=None) as batch_op:
        batch_op.drop_column("epoch")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_column("superseded_by")

    with op.batch_alter_table("use_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_use_decisions_tenant_at")
        batch_op.drop_index(batch_op.f("ix_use_decisions_item_id"))

    op.drop_table("use_decisions")
    with op.batch_alter_table("item_roots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_roots_clip_id"))

    op.drop_table("item_roots")
    with op.batch_alter_table("item_parents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_parents_parent_id"))

    op.drop_table("item_parents")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_items_worker_id"))
        batch_op.drop_index("ix_items_tenant_sha256")
        batch_op.drop_index(batch_op.f("ix_items_consent_id"))

    op.drop_table("items")
    op.drop_table("worker_keys")
    op.drop_table("policies")
