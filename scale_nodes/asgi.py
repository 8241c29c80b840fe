"""ASGI entry point of the node registry: what ``make serve`` and ``make run`` serve (gunicorn's ASGI worker)."""

import os

from serving.asgi import get_single_thread_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scale_nodes.settings")

application = get_single_thread_asgi_application()
