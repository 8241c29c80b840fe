"""WSGI entry point of the node registry."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scale_nodes.settings")

application = get_wsgi_application()
