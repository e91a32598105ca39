"""Clawback settings: every knob comes from the environment.

DEBUG=1 is the demo/development mode: it allows the built-in demo secrets and
the provider emulator. With DEBUG off (production) the secrets below must be
set, or the process refuses to start with ImproperlyConfigured.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_rate, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CLAWBACK_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
DEMO = DEBUG
# `makemigrations` only reads the models (no request, credential or task): it may run
# without the production secrets, so `makemigrations --check` works on a bare machine.
SECRETS_OPTIONAL = DEMO or sys.argv[1:2] == ["makemigrations"]

SECRET_KEY = env_secret(
    "SECRET_KEY",
    demo_default="clawback-demo-only-secret-key-not-for-production",
    demo=SECRETS_OPTIONAL,
)
# Fernet keys (urlsafe base64, 32 bytes) for credentials at rest, comma separated,
# newest first: the first encrypts, all of them decrypt (key rotation).
CREDENTIALS_KEYS = [
    key.strip()
    for key in env_secret(
        "CLAWBACK_CREDENTIALS_KEYS",
        demo_default="ZGVtby1vbmx5LWNyZWRlbnRpYWxzLWtleS0zMmJ5dGU=",
        demo=SECRETS_OPTIONAL,
    ).split(",")
    if key.strip()
]

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEMO else [])
if not SECRETS_OPTIONAL and not ALLOWED_HOSTS:
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
    # Sign-in: lockout after failed logins (axes), optional TOTP second factor (otp).
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "mailboxes",
    "retraction",
    "metrics",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response (Django has none built in).
    "config.security.ContentSecurityPolicyMiddleware",
    # 413 for an oversize body from its Content-Length, before anything reads it.
    "config.limits.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): signed in with a second factor in this session.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a lockout during sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
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
# Health checks: a persistent connection the server dropped (a restart, a failover) is
# replaced before a request or a task uses it, instead of failing that task.
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
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

# --- Sign-in: lockout (django-axes), two-factor (django-otp) ----------------------
# Axes looks at every password sign-in first (is this user name locked out from this
# address?); ModelBackend then checks the password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# After AXES_FAILURE_LIMIT wrong passwords or two-factor codes for one user name from one
# address, that pair is refused for AXES_COOLOFF_MINUTES (each try meanwhile restarts the
# wait). Other users, and the same user from elsewhere, can still sign in. Unlock early with
# `manage.py axes_reset_username <name>` (or axes_reset_ip, axes_reset).
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 30, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "mailboxes.signin.lockout_response"
AXES_CLIENT_IP_CALLABLE = "mailboxes.signin.client_ip"
# The address lockouts are keyed on: REMOTE_ADDR; behind a reverse proxy (BEHIND_PROXY=1),
# the entry of CLIENT_IP_HEADER that your proxies wrote, PROXY_COUNT places from the right
# (entries further left come from the client and can be forged).
BEHIND_PROXY = env_bool("BEHIND_PROXY")
CLIENT_IP_HEADER = env_str("CLIENT_IP_HEADER", "X-Forwarded-For")
PROXY_COUNT = env_int("PROXY_COUNT", 1, minimum=1)
# The name authenticator apps show next to the user name.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Clawback")
# Superusers may delete a person's lost device in the admin, never read its secret.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

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
# Production defaults are the strict ones (`manage.py check --deploy` is clean); each
# can be turned off. DEBUG=1 turns the HTTPS ones off: runserver speaks plain HTTP.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG and env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Plain HTTP is redirected to HTTPS. Behind a proxy that terminates TLS, set BEHIND_PROXY=1
# as well, or every request looks like plain HTTP and is redirected forever.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# HSTS: browsers that saw the site over HTTPS refuse plain HTTP for this long (0: off).
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Error reports (the technical 500 page, mails to ADMINS) never show a key or a credential.
DEFAULT_EXCEPTION_REPORTER_FILTER = "config.security.SecretsExceptionReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "config.security.SecretsExceptionReporter"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_PROXY") else None
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BYTES", 30 * 1024 * 1024, minimum=1024)

# --- Request size limits ---------------------------------------------------------
# config.limits.RequestSizeLimitMiddleware answers 413 from the Content-Length header,
# before the body is read: above DATA_UPLOAD_MAX_MEMORY_SIZE in general, above
# INGEST_MAX_MESSAGE_BYTES for raw message uploads (API and admin .eml upload).
# Bodies sent without a Content-Length (chunked) are not read at all under WSGI.
REQUEST_SIZE_LIMITS = {
    # URL name -> (setting with the limit, bytes allowed on top for multipart framing)
    "message-raw": ("INGEST_MAX_MESSAGE_BYTES", 0),
    "admin:mailboxes_message_upload": ("INGEST_MAX_MESSAGE_BYTES", 64 * 1024),
}

# --- Cache (API rate limits) --------------------------------------------------------
# Rate-limit counters must be shared by every web process. With REDIS_URL they live in
# Redis; otherwise in files under var/cache, shared by all processes of this machine
# (the one-machine default: nothing to install, no table to create, and no extra write
# on SQLite per request). Running the web on several machines: set REDIS_URL.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "clawback",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": env_str("CACHE_DIR", str(VAR_DIR / "cache")),
            "OPTIONS": {"MAX_ENTRIES": env_int("CACHE_MAX_ENTRIES", 10000, minimum=100)},
        }
    }

# --- API --------------------------------------------------------------------------
# Requests per API key (per user for browser sessions), in a sliding window: reads,
# ingest (verdicts and raw messages: detection systems post in bursts, up to
# INGEST_MAX_ITEMS verdicts per request) and other writes. "off" lifts a limit.
API_RATE_LIMIT = env_rate("API_RATE_LIMIT", "600/min")
API_INGEST_RATE_LIMIT = env_rate("API_INGEST_RATE_LIMIT", "120/min")
API_WRITE_RATE_LIMIT = env_rate("API_WRITE_RATE_LIMIT", "120/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mailboxes.api_auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["mailboxes.api_throttle.ApiRateThrottle"],
    "DEFAULT_PARSER_CLASSES": [
        "mailboxes.api_parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
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
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Axes logs every sign-in and sign-out at INFO; failures and lockouts are WARNING.
        "axes": {"level": "WARNING"},
    },
}

# --- Workers ------------------------------------------------------------------------
# A qcluster renders no pages, so DEBUG would only keep a log of every query its
# workers run: formatting each statement and its parameters took a fifth of a
# retraction worker's CPU in the demo. The demo's allowances (DEMO) stay as they are.
if DEBUG and sys.argv[1:2] == ["qcluster"]:
    DEBUG = False
