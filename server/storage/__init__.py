"""SQLModel tables, the async engine and sessions, and the Alembic migrations that build the schema."""
