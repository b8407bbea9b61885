"""Settings: twelve-factor environment variables with embedded defaults.

With no environment at all this runs the whole product on one machine: SQLite and a
filesystem Celery broker under var/, the local provider, no API key. Every variable is
listed with a comment in .env.example.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

# In a checkout, the folder holding manage.py, templates/ and static/. An installed wheel
# (`pip install .`) carries templates/ and static/ inside this package instead (setup.py).
BASE_DIR = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(__file__).resolve().parent
IN_CHECKOUT = (BASE_DIR / "manage.py").is_file()


def _shipped(folder: str) -> Path:
    packaged = PACKAGE_DIR / folder
    return packaged if packaged.is_dir() else BASE_DIR / folder


if not os.environ.get("STUDIO_VAR_DIR") and not IN_CHECKOUT:
    raise ImproperlyConfigured(
        "STUDIO_VAR_DIR is not set. An installed Proof Studio has no checkout to keep var/ "
        "in: name a writable folder for the beat schedule, the rendition spool and, if "
        "used, the SQLite database, the file broker and collected static files."
    )
VAR_DIR = Path(os.environ.get("STUDIO_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _local_secret_key() -> str:
    # Generated once per checkout so `make run` needs no configuration and no key is committed.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
# Served under a real name (a host in ALLOWED_HOSTS, or an origin trusted for CSRF, which
# signing in through a proxy needs): that is a deployment, not the embedded local setup.
SERVED_PUBLICLY = any(host not in LOCAL_HOSTS for host in ALLOWED_HOSTS) or any(
    urlsplit(origin).hostname not in LOCAL_HOSTS for origin in CSRF_TRUSTED_ORIGINS
)
# On for the embedded local setup (`make run`, the tests, manage.py in a checkout) so it
# needs no configuration; off by default as soon as the site is served under a real name.
DEBUG = env_bool("DJANGO_DEBUG", not SERVED_PUBLICLY)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        # A key generated per host would differ between web hosts behind a load balancer:
        # sessions, CSRF tokens and password-reset links signed by one would fail on another.
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set, and DEBUG is off. Every web and worker host must "
            "share one secret key: generate it once (python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'), keep it in your secret store and set "
            "DJANGO_SECRET_KEY on each host (docs/deployment.md)."
        )
    SECRET_KEY = _local_secret_key()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "axes",
    "ninja",  # the API's docs page from its vendored Swagger UI files, not a CDN
    "generations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a refused sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "studio.urls"
WSGI_APPLICATION = "studio.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [_shipped("templates")],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# System checks silenced on purpose, each with its reason where it is added.
SILENCED_SYSTEM_CHECKS: list[str] = []

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL lets readers run beside the writer, and
    # IMMEDIATE transactions take the write lock up front instead of failing mid-way.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # The reports' covering indexes (INCLUDE columns) are a PostgreSQL optimisation;
    # SQLite builds them without the extra columns, which is all the embedded default needs.
    SILENCED_SYSTEM_CHECKS.append("models.W040")
    # A file, not :memory:, so a worker process started by a test sees the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# --- Sign-in throttling (django-axes) ---------------------------------------------------
# Failed sign-ins are counted in the database (shared by every web host) per username and,
# separately, per client address; one at the limit is refused, even with the right
# password, until STUDIO_LOGIN_LOCKOUT_MINUTES pass without another try, or an admin
# unlocks it (Django admin, "Access attempts", or `manage.py axes_reset_username NAME`).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = env_int("STUDIO_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("STUDIO_LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind reverse proxies (STUDIO_PROXY_COUNT of them; nginx alone: 1) the client's address
# is the one the last proxy appended to X-Forwarded-For (nginx: proxy_set_header
# X-Forwarded-For $proxy_add_x_forwarded_for;); entries a client sent itself are left of it
# and never trusted. Left at 0 behind a proxy, every client would share the proxy's address,
# and one attacker would lock everyone out.
STUDIO_PROXY_COUNT = env_int("STUDIO_PROXY_COUNT", 0)
if STUDIO_PROXY_COUNT:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
    AXES_IPWARE_PROXY_ORDER = "left-most"
    # django-ipware counts the proxies listed after the client, i.e. all but the last one.
    AXES_IPWARE_PROXY_COUNT = STUDIO_PROXY_COUNT - 1
    # At least that many, not exactly: extra entries a client made up must not make the
    # header unusable (which would fall back to the proxy's own address).
    IPWARE_STRICT = False
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", VAR_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every start otherwise
STATICFILES_DIRS = [_shipped("static")]
_STATIC_MANIFEST = env_bool("DJANGO_STATIC_MANIFEST", False)
# Without a collectstatic step (make run, tests) WhiteNoise serves straight from the finders.
WHITENOISE_USE_FINDERS = not _STATIC_MANIFEST

MEDIA_ROOT = Path(os.environ.get("STUDIO_MEDIA_ROOT", VAR_DIR / "media"))
# No MEDIA_URL on purpose: images are only served through a view that checks permission.
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if _STATIC_MANIFEST
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- HTTPS (docs/deployment.md, "TLS") ---------------------------------------------------
# With DEBUG off the site is HTTPS only by default: plain HTTP is redirected, browsers are
# told to stay on HTTPS (HSTS) and cookies never travel without TLS. Each can be turned off
# on its own, e.g. DJANGO_SECURE_SSL_REDIRECT=false when the proxy already redirects.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
# Behind a proxy that terminates TLS, the name of the header it sets to "https" (nginx:
# `proxy_set_header X-Forwarded-Proto $scheme;`). Only set it when the proxy always sets
# or overwrites that header: a client could otherwise claim HTTPS on a plain connection.
_PROXY_SSL_HEADER = os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER", "").strip()
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https") if _PROXY_SSL_HEADER else None
)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not SECURE_HSTS_PRELOAD:
    # Asking browsers to preload HSTS commits the whole registrable domain to HTTPS for
    # months; its owner decides that (DJANGO_SECURE_HSTS_PRELOAD=true), not this default.
    SILENCED_SYSTEM_CHECKS.append("security.W021")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("STUDIO_LOG_LEVEL", "INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        # Per-task chatter (every sweep, every kick) drowns the render outcomes we log.
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
        "celery.beat": {"level": "WARNING"},
        # libvips (PNG decoding in generations.imaging.codec): "threadpool completed" for
        # every image at INFO; its warnings (why a refused image did not decode) stay.
        "pyvips": {"level": "WARNING"},
    },
}

# --- Celery ---------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {
    # Longer than the longest attempt (4K: 660 s), so Redis never hands a job that is
    # still rendering to a second worker; the lease, not the broker, decides who owns it.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 2 * 3600),
}
if CELERY_BROKER_URL.startswith("filesystem"):
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        {
            "data_folder_in": str(BROKER_DIR / "queue"),
            "data_folder_out": str(BROKER_DIR / "queue"),
            "processed_folder": str(BROKER_DIR / "processed"),
            "control_folder": str(BROKER_DIR / "control"),
            "store_processed": False,
        }
    )
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Render kicks go to this queue by name (dispatch.kick); a worker serves it with -Q.
STUDIO_RENDER_QUEUE = os.environ.get("STUDIO_RENDER_QUEUE", "renders")
CELERY_TASK_DEFAULT_QUEUE = STUDIO_RENDER_QUEUE
# Renditions (CPU work) go to their own queue, served by a prefork worker with one
# process per core (Procfile.dev `images`), so they never delay a provider call.
STUDIO_IMAGE_QUEUE = os.environ.get("STUDIO_IMAGE_QUEUE", "images")
# Beat's housekeeping (the sweep, drift alerts) goes to a queue of its own, served by a small
# worker that does nothing else (Procfile.dev `control`): behind a backlog of render kicks
# the sweep used to expire unread, and then nothing reaped leases or woke retries.
STUDIO_CONTROL_QUEUE = os.environ.get("STUDIO_CONTROL_QUEUE", "control")
CELERY_TASK_ROUTES = {
    "generations.tasks.make_renditions": {"queue": STUDIO_IMAGE_QUEUE},
    "generations.tasks.sweep": {"queue": STUDIO_CONTROL_QUEUE},
    "generations.tasks.drift_alerts": {"queue": STUDIO_CONTROL_QUEUE},
}

# --- Proof Studio ---------------------------------------------------------------------
STUDIO_LOCAL_PROFILE = os.environ.get("STUDIO_LOCAL_PROFILE", "demo")
# Seconds beyond an attempt's timeout before its lease counts as abandoned.
STUDIO_LEASE_GRACE_SECONDS = env_int("STUDIO_LEASE_GRACE_SECONDS", 30)
# How often beat runs the sweeper (the issue asks for at most 30 s).
STUDIO_SWEEP_INTERVAL_SECONDS = env_int("STUDIO_SWEEP_INTERVAL_SECONDS", 10)
# A due, queued job whose last kick is older than this is kicked again (message lost).
STUDIO_KICK_STALE_SECONDS = env_int("STUDIO_KICK_STALE_SECONDS", 60)
# Per-resolution attempt policy; override any part with JSON, e.g.
# {"4K": {"timeout": 900, "tries": 4, "base_delay": 90}}
STUDIO_ATTEMPT_POLICY: dict[str, dict[str, float]] = {
    "512": {"timeout": 60, "tries": 2, "base_delay": 15},
    "1K": {"timeout": 60, "tries": 2, "base_delay": 15},
    "2K": {"timeout": 180, "tries": 2, "base_delay": 30},
    "4K": {"timeout": 660, "tries": 3, "base_delay": 60},
}
for _size, _override in json.loads(os.environ.get("STUDIO_ATTEMPT_POLICY", "{}")).items():
    STUDIO_ATTEMPT_POLICY.setdefault(_size, {}).update(_override)

CELERY_BEAT_SCHEDULE = {
    "sweep-leases-and-lost-kicks": {
        "task": "generations.tasks.sweep",
        "schedule": float(STUDIO_SWEEP_INTERVAL_SECONDS),
        # On the control queue (CELERY_TASK_ROUTES); a sweep not started within one
        # interval is dropped, the next one does its work (no pile-up while it is down).
        "options": {"expires": float(STUDIO_SWEEP_INTERVAL_SECONDS)},
    },
    # Webhook deliveries: return expired leases, re-kick lost and due (retrying) ones.
    "sweep-webhook-deliveries": {
        "task": "generations.tasks.webhooks_sweep",
        "schedule": float(STUDIO_SWEEP_INTERVAL_SECONDS),
        "options": {"expires": float(STUDIO_SWEEP_INTERVAL_SECONDS)},
    },
    # Batch plans nobody queued are deleted after a week.
    "prune-batch-drafts": {
        "task": "generations.tasks.batch_drafts_prune",
        "schedule": 6 * 3600.0,
        "options": {"expires": 3600.0},
    },
    # Idempotent (one alert per drop): a few runs a day tell admins soon after a week ends.
    "quality-drift-alerts": {
        "task": "generations.tasks.drift_alerts",
        "schedule": 6 * 3600.0,
        "options": {"expires": 3600.0},
    },
}

# --- The economy lane (generations.rendering.economy): Gemini's Batch API ------------------
# One poller, driven by beat on the control queue: it sends due economy finals in batch
# jobs, reconciles jobs a crash left recorded but not known to be created, polls open
# jobs and stores their results.
STUDIO_ECONOMY_POLL_SECONDS = env_int("STUDIO_ECONOMY_POLL_SECONDS", 30)
# How often one job is asked how it is doing (the Batch API's turnaround is hours).
STUDIO_ECONOMY_JOB_POLL_SECONDS = env_int("STUDIO_ECONOMY_JOB_POLL_SECONDS", 60)
# Items per job, at most (a job's inlined requests also stay under the model's request
# limit, max_request_bytes: 20 MB for Gemini).
STUDIO_ECONOMY_MAX_ITEMS = env_int("STUDIO_ECONOMY_MAX_ITEMS", 100)
# A job's inlined answer (every image, base64, in one JSON document) is read in one piece:
# jobs are sized so it stays under this (~2 bytes per pixel: a 4K final is ~33 MB, so
# five 4K finals a job), below the 256 MB a provider answer may weigh.
STUDIO_ECONOMY_MAX_RESPONSE_BYTES = env_int("STUDIO_ECONOMY_MAX_RESPONSE_BYTES", 192 * 2**20)
# A poller's hold on a job (create, poll, store), and an economy final's lease: Gemini
# expires a job after 48 h, so a final not back in 50 h is the reaper's.
STUDIO_ECONOMY_JOB_LEASE_SECONDS = env_int("STUDIO_ECONOMY_JOB_LEASE_SECONDS", 600)
STUDIO_ECONOMY_LEASE_SECONDS = env_int("STUDIO_ECONOMY_LEASE_SECONDS", 50 * 3600)
STUDIO_ECONOMY_CALL_TIMEOUT_SECONDS = env_int("STUDIO_ECONOMY_CALL_TIMEOUT_SECONDS", 120)
# Seconds one poller run spends storing a job's results before it leaves the rest to the
# next run (the control worker also runs the sweeper).
STUDIO_ECONOMY_STORE_SECONDS = env_int("STUDIO_ECONOMY_STORE_SECONDS", 20)
# Google's current SDK calls /v1/…, older ones /v1beta/… (DESIGN.md): configurable.
STUDIO_GEMINI_API_VERSION = os.environ.get("STUDIO_GEMINI_API_VERSION", "v1beta")
# The local provider's simulation of the Batch API (no key): a job is pending for the first
# quarter of this many seconds, then running, then succeeded; each item fails on its own
# with this probability (a retryable error, as Gemini's per-item errors).
STUDIO_LOCAL_ECONOMY_SECONDS = float(os.environ.get("STUDIO_LOCAL_ECONOMY_SECONDS", "40"))
STUDIO_LOCAL_ECONOMY_FAILURE_RATE = float(
    os.environ.get("STUDIO_LOCAL_ECONOMY_FAILURE_RATE", "0.1")
)
STUDIO_LOCAL_ECONOMY_DIR = os.environ.get("STUDIO_LOCAL_ECONOMY_DIR") or str(
    VAR_DIR / "local-batches"
)
CELERY_BEAT_SCHEDULE["economy-lane-poller"] = {
    "task": "generations.tasks.economy_poll",
    "schedule": float(STUDIO_ECONOMY_POLL_SECONDS),
    "options": {"expires": float(STUDIO_ECONOMY_POLL_SECONDS)},
}
CELERY_TASK_ROUTES["generations.tasks.economy_poll"] = {"queue": STUDIO_CONTROL_QUEUE}

# The model registry (generations.catalog): what designers can pick and how each model is
# reached. A hosted model whose key variable (api_key_env) is unset renders with the
# local provider, labelled "(local simulation)", so `make run` needs no key. Keys are
# read from the environment at call time and never stored here.
STUDIO_GEMINI_BASE_URL = os.environ.get(
    "STUDIO_GEMINI_BASE_URL", "https://generativelanguage.googleapis.com"
)
_GEMINI: dict[str, Any] = {
    "provider": "gemini",
    "base_url": STUDIO_GEMINI_BASE_URL,
    "api_key_env": "GEMINI_API_KEY",
}
STUDIO_MODELS: dict[str, dict[str, Any]] = {
    "nano-banana-pro": {
        **_GEMINI,
        "label": "Nano Banana Pro (Gemini 3 Pro Image)",
        "model_id": "gemini-3-pro-image",
        "sizes": ["1K", "2K", "4K"],
        "preview_sizes": ["1K", "2K"],
        "final_size": "4K",
        # Cross-model previews: Nano Banana 2 previews (512 $0.045, 1K $0.067) may become
        # Pro 4K finals, made from the approved preview (DESIGN.md, "Default price list").
        "preview_models": ["nano-banana-2"],
    },
    "nano-banana-2": {
        **_GEMINI,
        "label": "Nano Banana 2 (Gemini 3.1 Flash Image)",
        "model_id": "gemini-3.1-flash-image",
        "sizes": ["512", "1K", "2K", "4K"],
        "preview_sizes": ["512", "1K", "2K"],
        "final_size": "4K",
    },
    # 1K only: its "final" is 1K too (catalog: can_escalate is False), and it takes no
    # imageSize. Its published 1K sizes differ from the Gemini 3 table.
    "nano-banana": {
        **_GEMINI,
        "label": "Nano Banana (Gemini 2.5 Flash Image, 1K only)",
        "model_id": "gemini-2.5-flash-image",
        "sizes": ["1K"],
        "preview_sizes": ["1K"],
        "final_size": "1K",
        "pixels_1k": {
            "1:1": [1024, 1024],
            "2:3": [832, 1248],
            "3:2": [1248, 832],
            "3:4": [864, 1184],
            "4:3": [1184, 864],
            "4:5": [896, 1152],
            "5:4": [1152, 896],
            "9:16": [768, 1344],
            "16:9": [1344, 768],
            "21:9": [1536, 672],
        },
    },
    "local": {
        "label": "Local renderer (Pillow, no key)",
        "provider": "local",
        "model_id": "local-pillow",
    },
}
# Override entries with JSON: keys merge into an entry (or add one); null removes it, e.g.
# {"nano-banana-pro": {"model_id": "gemini-3-pro-image-preview"}, "nano-banana": null}
for _key, _entry in json.loads(os.environ.get("STUDIO_MODELS", "{}")).items():
    if _entry is None:
        STUDIO_MODELS.pop(_key, None)
    else:
        STUDIO_MODELS.setdefault(_key, {}).update(_entry)
STUDIO_DEFAULT_MODEL = os.environ.get("STUDIO_DEFAULT_MODEL", "nano-banana-pro")

# --- Spend (generations.spend.ledger) ------------------------------------------------
# Failed calls a provider bills, per provider: error kinds (e.g. {"gemini":
# ["content_blocked"]}). Default: only successes are charged.
STUDIO_BILLED_FAILURES: dict[str, list[str]] = json.loads(
    os.environ.get("STUDIO_BILLED_FAILURES") or "{}"
)

# --- Shared rate limits (generations.rendering.limits) --------------------------------
# Per model: calls in flight at once and calls started per rolling minute, shared by every
# worker on every machine, plus a cooldown for everyone after a 429. Redis when a URL is
# known (by default the broker's, if it is Redis), else the database.
STUDIO_LIMITS_BACKEND = os.environ.get("STUDIO_LIMITS_BACKEND", "auto")  # auto|redis|database
STUDIO_LIMITS_REDIS_URL = os.environ.get("STUDIO_LIMITS_REDIS_URL") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
)
STUDIO_LIMITS_KEY_PREFIX = os.environ.get("STUDIO_LIMITS_KEY_PREFIX", "studio:limits")
# Hosted models get these unless STUDIO_MODEL_LIMITS names them; models rendered by the
# local provider are unlimited unless named. 0 or null means "no cap".
STUDIO_LIMITS_DEFAULT: dict[str, int | None] = {
    "concurrency": env_int("STUDIO_LIMITS_DEFAULT_CONCURRENCY", 8),
    "rpm": env_int("STUDIO_LIMITS_DEFAULT_RPM", 60),
}
# Per model key, merged over the default, e.g. {"nano-banana-pro": {"concurrency": 4, "rpm": 20}}
STUDIO_MODEL_LIMITS: dict[str, dict[str, int | None]] = json.loads(
    os.environ.get("STUDIO_MODEL_LIMITS", "{}")
)
# A job waiting for a busy slot looks again after at most this long (a freed slot also
# wakes the longest waiter at once).
STUDIO_LIMITS_POLL_SECONDS = env_int("STUDIO_LIMITS_POLL_SECONDS", 15)
# A daily quota used up (Gemini's 429 with a PerDay quota) pauses the model for every
# worker until the quota's day ends: "HH:MM Area/City", by default Google's reset,
# midnight Pacific time.
STUDIO_QUOTA_RESET = os.environ.get("STUDIO_QUOTA_RESET", "00:00 America/Los_Angeles")

# Provider health figures (generations.health) are kept this long per process: the 30-day
# figures read every attempt of the month (seconds at a million), and every approval
# screen shows a line of them. 0: computed on every request.
STUDIO_HEALTH_CACHE_SECONDS = env_int("STUDIO_HEALTH_CACHE_SECONDS", 300)

# --- Off-peak finals (generations.offpeak) -----------------------------------------------
# Per model key, the hours (in TIME_ZONE) when its finals succeed best, as
# {"nano-banana-pro": "01:00-06:00"}; a model not named here uses the hours learned from
# provider health (its best 4K first-try success over the last 30 days), if measured.
STUDIO_OFFPEAK_WINDOWS: dict[str, str] = json.loads(os.environ.get("STUDIO_OFFPEAK_WINDOWS", "{}"))
# An off-peak final runs at the latest this many hours after its approval.
STUDIO_OFFPEAK_MAX_WAIT_HOURS = env_int("STUDIO_OFFPEAK_MAX_WAIT_HOURS", 12)
# Image checks and renditions running at once per worker process (~1 CPU s and ~110 MiB
# per 4K); a threads worker's other calls wait their turn. 0: the number of CPUs.
STUDIO_IMAGE_WORK_CONCURRENCY = env_int("STUDIO_IMAGE_WORK_CONCURRENCY", 0)

# Quality drift (generations.quality): flag a week whose median (per model × size) is more
# than this share below the median of the previous STUDIO_DRIFT_BASELINE_WEEKS weekly
# medians; weeks with fewer than STUDIO_DRIFT_MIN_SAMPLES native images are not judged and
# do not count towards a baseline (which needs two such weeks).
STUDIO_DRIFT_DROP = float(os.environ.get("STUDIO_DRIFT_DROP") or 0.25)
STUDIO_DRIFT_BASELINE_WEEKS = env_int("STUDIO_DRIFT_BASELINE_WEEKS", 4)
STUDIO_DRIFT_MIN_SAMPLES = env_int("STUDIO_DRIFT_MIN_SAMPLES", 5)
# A provider result with more pixels than this is refused from its header, before any
# decoding (the largest published 4K, 5504×3072, is 16.9 M).
STUDIO_IMAGE_MAX_PIXELS = env_int("STUDIO_IMAGE_MAX_PIXELS", 40_000_000)
# Uploads (reference images, pictures to edit): refused above these before decoding; a
# 45 MP camera JPEG passes. Stored at most 4096 px on the long side, metadata removed.
STUDIO_UPLOAD_MAX_BYTES = env_int("STUDIO_UPLOAD_MAX_BYTES", 25 * 2**20)
STUDIO_UPLOAD_MAX_PIXELS = env_int("STUDIO_UPLOAD_MAX_PIXELS", 50_000_000)
# Host-local folder where the render task leaves a checked image's screen-size pixels for
# the rendition task, which then needs no second decode. An images worker on another host
# finds nothing there and decodes the original. "off": never spool ("" inside Python).
STUDIO_RENDITION_SPOOL_DIR = os.environ.get("STUDIO_RENDITION_SPOOL_DIR") or str(
    VAR_DIR / "rendition-spool"
)
if STUDIO_RENDITION_SPOOL_DIR == "off":
    STUDIO_RENDITION_SPOOL_DIR = ""

# --- Serving images (generations.views.media) ------------------------------------------
# Behind nginx: the view checks permission, then answers with X-Accel-Redirect to this
# prefix + the file's storage name and no body; nginx serves the file from an `internal`
# location (docs/deployment.md). Empty: Django streams the file itself.
STUDIO_MEDIA_ACCEL_REDIRECT = os.environ.get("STUDIO_MEDIA_ACCEL_REDIRECT", "")
# S3-compatible object storage (django-storages, `pip install .[s3]`): with a bucket set,
# originals and renditions live there and the view redirects, after the permission
# check, to a presigned URL valid this many seconds.
STUDIO_S3_BUCKET = os.environ.get("STUDIO_S3_BUCKET", "")
STUDIO_S3_URL_SECONDS = env_int("STUDIO_S3_URL_SECONDS", 300)


def s3_storage(environ: Mapping[str, str]) -> dict[str, Any]:
    """The default storage for STUDIO_S3_* in `environ` (a function so the S3 test builds
    exactly this against its own server)."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": environ["STUDIO_S3_BUCKET"],
            "endpoint_url": environ.get("STUDIO_S3_ENDPOINT_URL") or None,
            "region_name": environ.get("STUDIO_S3_REGION") or None,
            # Keys from the environment (or the instance role when unset); never logged.
            "access_key": environ.get("STUDIO_S3_ACCESS_KEY_ID") or None,
            "secret_key": environ.get("STUDIO_S3_SECRET_ACCESS_KEY") or None,
            "querystring_auth": True,
            "querystring_expire": int(environ.get("STUDIO_S3_URL_SECONDS") or 300),
            "signature_version": "s3v4",  # the expiry is enforced by the signature itself
            "default_acl": "private",
            "file_overwrite": False,
            "location": environ.get("STUDIO_S3_PREFIX", ""),
        },
    }


# --- Batches (generations.batches) ------------------------------------------------------
# The most rows (submissions) one batch may plan; a matrix that expands past it is refused.
STUDIO_BATCH_MAX_ROWS = env_int("STUDIO_BATCH_MAX_ROWS", 1000)

# --- Webhooks (generations.webhooks) ----------------------------------------------------
# Queue of the delivery task. Empty: the render queue (deliveries are short I/O calls).
STUDIO_WEBHOOK_QUEUE = os.environ.get("STUDIO_WEBHOOK_QUEUE", "")
# Seconds one delivery attempt may take (connect + send + response).
STUDIO_WEBHOOK_TIMEOUT_SECONDS = env_int("STUDIO_WEBHOOK_TIMEOUT_SECONDS", 10)
# Attempts per delivery; waits between them double from the base (with jitter, at most
# 6 h; a Retry-After header is honoured up to that). Default: 8 attempts over ~4 h.
STUDIO_WEBHOOK_MAX_ATTEMPTS = env_int("STUDIO_WEBHOOK_MAX_ATTEMPTS", 8)
STUDIO_WEBHOOK_RETRY_BASE_SECONDS = float(os.environ.get("STUDIO_WEBHOOK_RETRY_BASE_SECONDS") or 60)
# An endpoint whose deliveries fail this many times in a row (each after all its
# attempts) is disabled, and the project's admins are told.
STUDIO_WEBHOOK_DISABLE_AFTER = env_int("STUDIO_WEBHOOK_DISABLE_AFTER", 5)
# Webhooks never go to private, loopback, link-local or otherwise non-public addresses,
# except those in these networks (comma-separated CIDRs, e.g. 127.0.0.0/8,10.1.0.0/16).
STUDIO_WEBHOOK_ALLOWED_NETWORKS = env_list("STUDIO_WEBHOOK_ALLOWED_NETWORKS", "")
# The site's public root (https://studio.example.com), for links in webhook payloads.
# Empty: payloads carry paths only.
STUDIO_SITE_URL = os.environ.get("STUDIO_SITE_URL", "").rstrip("/")

if STUDIO_S3_BUCKET:
    STORAGES["default"] = s3_storage(os.environ)
