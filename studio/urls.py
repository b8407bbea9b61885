from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    # The JSON API (generations.api): token auth, JSON errors, OpenAPI at /api/v1/openapi.json.
    path("api/", include("generations.api.app")),
    path("", include("generations.urls")),
]
