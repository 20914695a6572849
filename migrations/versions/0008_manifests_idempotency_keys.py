"""manifests, idempotency keys

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 22:00:51.364711
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
        "idempotency_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(length=32), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("scope", "key", name=op.f("uq_idempotency_keys_scope")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "manifests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.Column("recipient", sa.String(length=60), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("api_key_id", sa.String(length=40), nullable=True),
        sa.Column("allowed", sa.BigInteger(), nullable=False),
        sa.Column("refused", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("tainted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_manifests_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manifests")),
    )
    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_manifests_tenant_issued", ["tenant_id", "issued_at", "id"], unique=False
        )

    op.create_table(
        "manifest_items",
        sa.Column("manifest_id", sa.String(length=40), nullable=False),
        sa.Column("item_id", sa.String(length=40), nullable=False),
        sa.Column("noticed_state", sa.String(length=20), nullable=True),
        sa.Column("noticed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_manifest_items_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["manifest_id"], ["manifests.id"], name=op.f("fk_manifest_items_manifest_id_manifests")
        ),
        sa.PrimaryKeyConstraint("manifest_id", "item_id", name=op.f("pk_manifest_items")),
    )
    with op.batch_alter_table("manifest_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_manifest_items_item_id"), ["item_id"], unique=False)

    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("manifest_id", sa.String(length=40), nullable=True))
        batch_op.alter_column("erasure_id", existing_type=sa.VARCHAR(length=40), nullable=True)
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_manifest_id"), ["manifest_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_webhook_deliveries_manifest_id_manifests"),
            "manifests",
            ["manifest_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_webhook_deliveries_manifest_id_manifests"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_manifest_id"))
        batch_op.alter_column("erasure_id", existing_type=sa.VARCHAR(length=40), nullable=False)
        batch_op.drop_column("manifest_id")

    with op.batch_alter_table("manifest_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_manifest_items_item_id"))

    op.drop_table("manifest_items")
    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.drop_index("ix_manifests_tenant_issued")

    op.drop_table("manifests")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_created_at"))

    op.drop_table("idempotency_keys")
