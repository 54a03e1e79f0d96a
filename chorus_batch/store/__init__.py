"""The store: tables (``schema``), migrations and the only SQL (``repo``)."""
