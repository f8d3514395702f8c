"""predictions and their feedback

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("component", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("model_run_id", sa.String(64), nullable=True),
        sa.Column("input_kind", sa.String(16), nullable=False),
        sa.Column("input_json", sa.JSON, nullable=True),
        sa.Column("input_blob", sa.LargeBinary, nullable=True),
        sa.Column("model_input", sa.LargeBinary, nullable=True),
        sa.Column("candidates", sa.JSON, nullable=False),
        sa.Column("top1", sa.String(128), nullable=False),
        sa.Column("top1_score", sa.Float, nullable=False),
        sa.Column("feedback_label", sa.String(128), nullable=True),
        sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_predictions_component", "predictions", ["component"])
    op.create_index("ix_predictions_created_at", "predictions", ["created_at"])
    op.create_index("ix_predictions_feedback_label", "predictions", ["feedback_label"])


def downgrade() -> None:
    op.drop_table("predictions")
