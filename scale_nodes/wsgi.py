"""WSGI entry point of the node registry."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from serving.wsgi import ChunkedBodyMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scale_nodes.settings")

application = ChunkedBodyMiddleware(get_wsgi_application(), max_body_bytes=lambda: settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
