import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
application = get_wsgi_application()

from studio.runtime import freeze_loaded_app  # noqa: E402 -- needs the app loaded

freeze_loaded_app()
