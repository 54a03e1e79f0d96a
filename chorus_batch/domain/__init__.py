"""The pure core: models, business rules, identifiers. No files, database, clock or XML here."""
