"""Django's PostgreSQL backend, with the statement timeout of API requests (``util.statement_timeout``).

``ENGINE = "serving.postgresql"`` (set by the settings whenever ``DATABASE_URL`` names PostgreSQL):
Django's documented way to extend a built-in backend, by subclassing its ``DatabaseWrapper``.
"""
