"""a secret of the deployment's own, made once: the key of the clients' pseudonyms (HMAC)

Until now a pseudonym was sha256(salt:address) with an empty salt unless one was configured, which
anyone can reverse by hashing every IPv4 address. The secret is drawn here, at the store's first
migration, so that every worker and replica sharing the store hashes alike.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "deployment_secrets",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.String(64), nullable=False),
    )
    op.bulk_insert(table, [{"name": "client_pseudonym", "value": secrets.token_hex(32)}])


def downgrade() -> None:
    op.drop_table("deployment_secrets")
