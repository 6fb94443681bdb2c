from alembic import context

from services.notifier.tables import Base
from shared.migrations import run_env

run_env(context, Base.metadata)
