"""Storage: SQLAlchemy tables, repositories that return domain types, the Redis cache and stream."""
