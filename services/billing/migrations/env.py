from alembic import context

from services.billing.tables import Base
from shared.migrations import run_env

run_env(context, Base.metadata)
