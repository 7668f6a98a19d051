"""${message}

Schema version ${up_revision.removeprefix("v")} (revision ${up_revision}, after ${down_revision}).
"""

import sqlalchemy as sa
from alembic import op

from support_flows.storage.migrations import schema_of
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
