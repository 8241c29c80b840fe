"""The processes that answer HTTP: the ASGI and WSGI handlers, the gunicorn workers, probes, drain and API docs."""
