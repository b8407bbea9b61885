import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
application = get_asgi_application()

from studio.runtime import freeze_loaded_app  # noqa: E402 -- needs the app loaded

freeze_loaded_app()
