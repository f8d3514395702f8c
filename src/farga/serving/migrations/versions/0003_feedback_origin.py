"""feedback names a package and a client: what a command outside the catalogue needs to become a class

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("feedback_package", sa.String(40), nullable=True))
        batch.add_column(sa.Column("feedback_client", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("feedback_client")
        batch.drop_column("feedback_package")
