"""Clawback settings: every knob comes from the environment.

DEBUG=1 is the demo/development mode: it allows the built-in demo secrets and
the provider emulator. With DEBUG off (production) the secrets below must be
set, or the process refuses to start with ImproperlyConfigured.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CLAWBACK_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
DEMO = DEBUG

SECRET_KEY = env_secret(
    "SECRET_KEY", demo_default="clawback-demo-only-secret-key-not-for-production", demo=DEMO
)
# Fernet keys (urlsafe base64, 32 bytes) for credentials at rest, comma separated,
# newest first: the first encrypts, all of them decrypt (key rotation).
CREDENTIALS_KEYS = [
    key.strip()
    for key in env_secret(
        "CLAWBACK_CREDENTIALS_KEYS",
        demo_default="ZGVtby1vbmx5LWNyZWRlbnRpYWxzLWtleS0zMmJ5dGU=",
        demo=DEMO,
    ).split(",")
    if key.strip()
]

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEMO else [])
if not DEMO and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is not set (comma-separated host names).")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # django.contrib.admin with the Clawback site (membership-based access).
    "mailboxes.admin_site.ClawbackAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "mailboxes",
    "retraction",
    "metrics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- Database -----------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'clawback.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at
    # BEGIN so two writers queue on busy_timeout instead of failing with "database is
    # locked" on lock upgrade; the timeout covers a slow worker holding the lock.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": env_int("SQLITE_BUSY_TIMEOUT", 20, minimum=1),
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            "PRAGMA synchronous=NORMAL;"
            "PRAGMA foreign_keys=ON;"
            "PRAGMA cache_size=-64000;"
        ),
    }
    # A file, not memory, for the test database: tests start real qcluster processes
    # that must see the same database. One per test run, so runs side by side don't mix.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test_clawback_{os.getpid()}.sqlite3")}
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Background work (django-q2) ----------------------------------------------
REDIS_URL = env_str("REDIS_URL")
Q_CLUSTER = {
    "name": env_str("Q_CLUSTER_NAME", "clawback"),
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    # A retraction batch is bounded by the provider retry budget (well under a
    # minute); a task still running after `timeout` is killed, and only after
    # `retry` (strictly longer, so a slow task is never handed out twice while it
    # still runs) does the broker give it to another worker.
    "timeout": env_int("Q_TIMEOUT", 120, minimum=1),
    "retry": env_int("Q_RETRY", 180, minimum=2),
    # Finite: a task that keeps crashing its worker is dropped into the failed
    # list instead of looping forever; our own sweeper re-queues attempts.
    "max_attempts": env_int("Q_MAX_ATTEMPTS", 3, minimum=1),
    # Attempts are the durable record of retraction work, so successful task
    # results need not be kept: -1 skips saving them (the default of 250 makes
    # every success pay for a pruning query, several times slower). Failures
    # are always saved and show in the django-q2 admin.
    "save_limit": env_int("Q_SAVE_LIMIT", -1),
    "ack_failures": True,
    "catch_up": False,
    "label": "Tasks",
}
if Q_CLUSTER["timeout"] >= Q_CLUSTER["retry"]:
    raise ImproperlyConfigured(
        f"Q_TIMEOUT ({Q_CLUSTER['timeout']}) must be less than Q_RETRY ({Q_CLUSTER['retry']}), "
        "or a task still running is handed to a second worker."
    )
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 0.1
if env_bool("Q_SYNC", False):
    Q_CLUSTER["sync"] = True

# --- Providers ------------------------------------------------------------------
# The emulator stands in for Microsoft and Google in the demo and the tests only.
ALLOW_PROVIDER_EMULATOR = DEMO and env_bool("ALLOW_PROVIDER_EMULATOR", True)
# CA certificate that signs the emulator's TLS certificate (written by the emulator).
PROVIDER_EMULATOR_CA = env_str("PROVIDER_EMULATOR_CA", str(VAR_DIR / "emulator-ca.pem"))
PROVIDER_HTTP_TIMEOUT = env_int("PROVIDER_HTTP_TIMEOUT", 30, minimum=1)

# --- Retraction engine ------------------------------------------------------------
# Tenants of one task run side by side; each client bounds its own per-mailbox load.
RETRACTION_TENANT_CONCURRENCY = env_int("RETRACTION_TENANT_CONCURRENCY", 8, minimum=1)
# Queued attempts older than this are handed to the workers again by the sweeper.
RETRACTION_REDISPATCH_AFTER = env_int("RETRACTION_REDISPATCH_AFTER", 120, minimum=1)
# A running attempt older than this belongs to a dead worker: by then the broker
# would have handed a live task to another worker (Q_RETRY) and it would have ended.
RETRACTION_STALE_AFTER = env_int(
    "RETRACTION_STALE_AFTER", Q_CLUSTER["retry"] + Q_CLUSTER["timeout"], minimum=1
)

# --- Ingestion (API verdicts, raw MIME, SMTP journal/BCC) -----------------------------
# Headers carrying a verdict on raw and journaled mail, first match wins (comma list).
CLAWBACK_VERDICT_HEADERS = env_list(
    "CLAWBACK_VERDICT_HEADERS", ["X-Clawback-Disposition", "X-Area1Security-Disposition"]
)
INGEST_MAX_MESSAGE_BYTES = env_int("INGEST_MAX_MESSAGE_BYTES", 25 * 1024 * 1024, minimum=1024)
INGEST_MAX_RECIPIENTS = env_int("INGEST_MAX_RECIPIENTS", 5000, minimum=1)
INGEST_MAX_ITEMS = env_int("INGEST_MAX_ITEMS", 1000, minimum=1)
INGEST_MAX_HEADER_BYTES = env_int("INGEST_MAX_HEADER_BYTES", 64 * 1024, minimum=1024)
INGEST_MAX_HEADERS_BYTES = env_int("INGEST_MAX_HEADERS_BYTES", 256 * 1024, minimum=1024)
# Threads of the SMTP receiver that write to the database; 0: 1 on SQLite (one writer
# at a time anyway; messages that queue meanwhile share a commit), 2 otherwise.
JOURNAL_SMTPD_WORKERS = env_int("JOURNAL_SMTPD_WORKERS", 0, minimum=0)

# --- Auth, i18n, static ----------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Chart.js comes from the npm registry (package.json/package-lock.json); whitenoise
# serves it from node_modules through collectstatic, never from a copy in the repo.
STATICFILES_DIRS = [("vendor/chart.js", BASE_DIR / "node_modules" / "chart.js" / "dist")]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security ---------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG and env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_PROXY") else None
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BYTES", 30 * 1024 * 1024, minimum=1024)

# --- API --------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mailboxes.api_auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "mailboxes.api_pagination.CursorPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Clawback API",
    "DESCRIPTION": "Post-delivery email retraction: tenants, mailboxes, messages, retractions.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Tags and operation ids from the path after /api/v1/ (tenants, messages, ...).
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # Fields called action/status/disposition use different choice sets; name each one.
    "ENUM_NAME_OVERRIDES": {
        "DispositionEnum": "mailboxes.vocabulary.Disposition",
        "PolicyDispositionEnum": "mailboxes.vocabulary.COVERED_DISPOSITIONS",
        "ActionEnum": "mailboxes.vocabulary.Action",
        "PolicyActionEnum": "mailboxes.vocabulary.PolicyAction",
        "DeliveryStatusEnum": "mailboxes.models.DeliveryStatus",
        "AttemptStatusEnum": "retraction.models.AttemptStatus",
    },
}

# --- Logging ------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "mailboxes.crypto.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
