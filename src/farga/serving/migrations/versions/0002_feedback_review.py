"""feedback review: accepted, quarantined or rejected before it may train a model

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("review", sa.String(16), nullable=True))
        batch.add_column(sa.Column("review_note", sa.String(256), nullable=True))
        batch.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_predictions_review", "predictions", ["review"])


def downgrade() -> None:
    op.drop_index("ix_predictions_review", "predictions")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("reviewed_at")
        batch.drop_column("review_note")
        batch.drop_column("review")
