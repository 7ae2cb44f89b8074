from services.registry.models import Base
from shared.db.migrate import run_migrations

run_migrations(Base.metadata)
