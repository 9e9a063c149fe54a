"""Raw tables: their contract, the store (SQLAlchemy), CSV import/export and pseudonymisation."""
