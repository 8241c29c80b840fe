"""WSGI entry point of the node registry.

Whatever server imports it (each worker process, or a master that forks them), the loaded
application is then left out of garbage collection, as the service's own workers leave it
(``serving.workers.freeze_loaded_app``): otherwise every full collection would walk it again.
"""

import os

from django.conf import settings

from serving.wsgi import ChunkedBodyMiddleware, get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scale_nodes.settings")

application = ChunkedBodyMiddleware(get_wsgi_application(), max_body_bytes=lambda: settings.DATA_UPLOAD_MAX_MEMORY_SIZE)

from serving.workers import freeze_loaded_app  # noqa: E402 (needs the settings loaded above)

freeze_loaded_app()
