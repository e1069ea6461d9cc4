"""perfmon control-plane settings, read top to bottom from the environment.

Unset ``DATABASE_URL`` and ``REDIS_URL`` give the embedded default: a SQLite
file and kombu's filesystem broker under ``var/``, so one machine runs the
whole system with no server. docs/operations.md lists every variable.
"""

from __future__ import annotations

import json
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from perfmon.envconf import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PERFMON_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- core -----------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
# The local secrets `make up` generates under the var dir (scripts/stack.py), so an
# operator command in a new shell finds what the running stack uses. A server
# given neither SECRET_KEY, SECRET_KEY_FILE nor that file still refuses to start.
_LOCAL_SECRET_KEY = VAR_DIR / "secret-key"
_LOCAL_LICENSE_PUBLIC_KEY = VAR_DIR / "license-signing.pem.pub"
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY and _LOCAL_SECRET_KEY.is_file():
    SECRET_KEY = _LOCAL_SECRET_KEY.read_text().strip()
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            f"SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off (or {_LOCAL_SECRET_KEY} exist, "
            "as `make up` writes it)"
        )
    SECRET_KEY = "insecure-debug-only-key"  # noqa: S105 - only ever used with DEBUG on
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
PERFMON_PUBLIC_URL = env_str("PERFMON_PUBLIC_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served locally, never from a CDN
    "django_celery_beat",
    "perfmon.core",
    "perfmon.tenants",
    "perfmon.definitions",
    "perfmon.fleet",
    "perfmon.monitors",
    "perfmon.runs",
    "perfmon.alerts",
    "perfmon.accounts",
    "perfmon.operations",  # tenant settings, retention, /metrics
    "perfmon.web",  # the dashboard (templates/web/, mounted at /)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "perfmon.operations.audit.AuditActorMiddleware",  # who changed what (docs/operations.md)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "perfmon.urls"
WSGI_APPLICATION = "perfmon.wsgi.application"

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

# --- database -------------------------------------------------------------
_SQLITE_DEFAULT = f"sqlite:///{VAR_DIR / 'perfmon.sqlite3'}"
# Connections are kept for 60 s and checked before a request reuses one, so the first request after
# a database restart opens a new connection instead of failing on the dead one.
DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL") or _SQLITE_DEFAULT, conn_max_age=60,
                                              conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file: wait for locks instead of failing,
    # take the write lock at BEGIN (no upgrade deadlocks), and let readers run
    # beside the writer (WAL).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- broker and cache -----------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
BROKER_FS_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_FS_DIR / sub).mkdir(parents=True, exist_ok=True)

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # A file cache is shared by all local processes, so the rate limit and
    # caches agree between them on the embedded default.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- auth -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/admin/login/"

# --- OIDC (Keycloak): /api/v1 Bearer tokens and browser login (docs/auth.md) ---
# The realm URL, e.g. http://keycloak:8080/realms/perfscale. Unset: /api/v1 answers 401
# "OIDC is not configured" and browser login is off.
OIDC_ISSUER = (env_str("OIDC_ISSUER", "") or "").rstrip("/")
# Where perfmon itself reaches the realm, when that differs from the issuer in the tokens
# (e.g. http://keycloak:8080/realms/perfscale inside compose while tokens say localhost).
OIDC_PROVIDER_URL = env_str("OIDC_PROVIDER_URL", "") or ""
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID", "perfscale-site") or ""
OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET", "") or ""
# Optional: an audience the access tokens must carry; unset, aud or azp must be the client id.
OIDC_AUDIENCE = env_str("OIDC_AUDIENCE", "") or ""
# The access-token claim holding the tenant's slug.
OIDC_TENANT_CLAIM = env_str("OIDC_TENANT_CLAIM", "tenant") or "tenant"
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_RP_SCOPES = "openid email profile"
OIDC_USE_PKCE = True
OIDC_LEEWAY = env_int("OIDC_LEEWAY", 30)  # seconds of clock skew allowed on exp/iat/nbf
OIDC_TIMEOUT = env_float("OIDC_TIMEOUT", 5.0)  # seconds, every request to the provider
OIDC_VERIFY_SSL = env_bool("OIDC_VERIFY_SSL", True)
OIDC_JWKS_CACHE_SECONDS = env_int("OIDC_JWKS_CACHE_SECONDS", 3600)
OIDC_JWKS_REFETCH_COOLDOWN = env_float("OIDC_JWKS_REFETCH_COOLDOWN", 30.0)  # unknown kid: refetch at most this often
OIDC_AUTHENTICATE_CLASS = "perfmon.accounts.views.OidcLoginView"
OIDC_DRF_AUTH_BACKEND = "perfmon.accounts.backends.OidcBackend"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "perfmon.accounts.backends.OidcBackend",
]
LOGIN_REDIRECT_URL = env_str("LOGIN_REDIRECT_URL", "/") or "/"
LOGIN_REDIRECT_URL_FAILURE = env_str("LOGIN_REDIRECT_URL_FAILURE", "/") or "/"
LOGOUT_REDIRECT_URL = "/"

# --- i18n -----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- static ---------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- security -------------------------------------------------------------
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024)

# --- REST framework -------------------------------------------------------
# No global authentication: each API surface sets its own, so one surface's
# credential never works on the other (docs/architecture.md).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "perfmon.api.common.errors.envelope_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "perfmon API",
    "DESCRIPTION": "perf-monitor API (/api, X-API-Key) of the perfmon control plane.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The error envelope's answers and closed request bodies, on every operation (perfmon/api/common/openapi.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "perfmon.api.common.openapi.envelope_answers"],
    "ENUM_NAME_OVERRIDES": {
        "PartStatusEnum": "perfmon.runs.models.PartStatus",
        "AgentStatusEnum": [("online", "online"), ("offline", "offline")],
    },
}

# --- perfmon --------------------------------------------------------------
# API keys: last_used_at is written at most this often per key (seconds).
PERFMON_API_KEY_TOUCH_INTERVAL = env_int("PERFMON_API_KEY_TOUCH_INTERVAL", 60)
# Ed25519 public key (PEM, or base64 of the raw 32 bytes) that license keys are verified against.
# Unset, the local vendor key pair `make up` generates is trusted (var/license-signing.pem.pub).
PERFMON_LICENSE_PUBLIC_KEY = env_str("PERFMON_LICENSE_PUBLIC_KEY", "") or (
    _LOCAL_LICENSE_PUBLIC_KEY.read_text() if _LOCAL_LICENSE_PUBLIC_KEY.is_file() else ""
)
# Tenants without a license key get the community tier.
PERFMON_COMMUNITY_MONITOR_LIMIT = env_int("PERFMON_COMMUNITY_MONITOR_LIMIT", 10)
# The tenant `make up` bootstraps; commands fall back to it when no tenant is named.
PERFMON_DEMO_TENANT_SLUG = env_str("PERFMON_DEMO_TENANT_SLUG", "demo")
# An agent is offline when its last heartbeat is older than this (seconds).
PERFMON_AGENT_OFFLINE_AFTER = env_float("PERFMON_AGENT_OFFLINE_AFTER", 30.0)
# How long a one-time agent enrollment token stays valid (seconds).
PERFMON_ENROLLMENT_TOKEN_TTL = env_int("PERFMON_ENROLLMENT_TOKEN_TTL", 7 * 24 * 3600)

# --- perf-monitor API (/api) ----------------------------------------------
# Requests per API key (or operator session): "<n>/<second|minute|hour|day>", or "off".
PERFMON_API_RATE_LIMIT = env_str("PERFMON_API_RATE_LIMIT", "600/minute")
# Largest script a monitor may hold, in bytes (after base64 decoding).
PERFMON_MAX_SCRIPT_BYTES = env_int("PERFMON_MAX_SCRIPT_BYTES", 1024 * 1024)
# Node.js, which checks a k6 script's syntax when it is saved (parse only, never run:
# perfmon/definitions/scriptcheck.py); empty turns the check off, so the first run finds errors.
PERFMON_NODE_BINARY = env_str("PERFMON_NODE_BINARY", "node") or ""


def _tier_minutes(raw: str | None) -> dict[str, float]:
    """``community=5,professional=1`` (or the JSON object) -> {"community": 5.0, "professional": 1.0}."""
    text = (raw or "").strip()
    try:
        pairs = json.loads(text).items() if text.startswith("{") else [
            item.split("=", 1) for item in text.split(",") if item.strip()
        ]
        parsed = {str(tier).strip(): float(minutes) for tier, minutes in pairs}
    except (ValueError, TypeError, AttributeError):
        parsed = None
    if parsed is None or not all(tier and 0 < minutes <= 366 * 24 * 60 for tier, minutes in parsed.items()):
        raise ImproperlyConfigured(
            f"PERFMON_TIER_MIN_INTERVAL_MINUTES must look like 'community=5,professional=1', got {raw!r}"
        )
    return parsed


# Shortest schedule interval (minutes) each license tier allows; tiers not named allow every minute.
PERFMON_TIER_MIN_INTERVAL_MINUTES = {
    "community": 1.0,
    **_tier_minutes(env_str("PERFMON_TIER_MIN_INTERVAL_MINUTES")),
}

# --- Celery ---------------------------------------------------------------
CELERY_TIMEZONE = "UTC"
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = "perfmon"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_FS_DIR / "queue"),
        "data_folder_out": str(BROKER_FS_DIR / "queue"),
        "processed_folder": str(BROKER_FS_DIR / "processed"),
        # Fanout/broadcast bindings; kombu's default is ./control in the working directory.
        "control_folder": str(BROKER_FS_DIR / "control"),
        "store_processed": False,
    }
else:
    # Longer than the longest test a monitor may run, so a message that an
    # agent holds (acks late) is not redelivered while the test still runs.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("PERFMON_BROKER_VISIBILITY_TIMEOUT", 4 * 3600),
    }

# --- logging --------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- runs -----------------------------------------------------------------
# Wall-clock limit of one run on an agent (seconds); the agent kills the tool past it.
PERFMON_RUN_TIME_LIMIT = env_int("PERFMON_RUN_TIME_LIMIT", 30 * 60)
# Monitors claimed per scheduler transaction.
PERFMON_DISPATCH_BATCH = env_int("PERFMON_DISPATCH_BATCH", 500)
# The sweeper: publish runs whose message never reached the broker after this long (s) ...
PERFMON_REPUBLISH_AFTER = env_int("PERFMON_REPUBLISH_AFTER", 15)
# ... end runs of an agent offline for this long past its heartbeat timeout (s) ...
PERFMON_AGENT_LOST_GRACE = env_int("PERFMON_AGENT_LOST_GRACE", 60)
# ... and expire runs no agent started within this long (s).
PERFMON_QUEUED_TIMEOUT = env_int("PERFMON_QUEUED_TIMEOUT", 15 * 60)
# Split runs (docs/distributed.md): the most parts one run is split into, how long every part
# has to become ready after the run is published (s), and how far ahead of the release the
# common start is set (s), so that every waiting agent hears of it in time.
PERFMON_SPLIT_MAX_PARTS = env_int("PERFMON_SPLIT_MAX_PARTS", 10)
PERFMON_SPLIT_READY_TIMEOUT = env_int("PERFMON_SPLIT_READY_TIMEOUT", 120)
PERFMON_SPLIT_START_LEAD = env_float("PERFMON_SPLIT_START_LEAD", 1.0)
# How far ahead (s) the tick prepares the runs of idle monitors, published at their due time
# (perfmon/runs/tick.py); 0 dispatches only what is due. Below a minute, the shortest cron period.
PERFMON_DISPATCH_AHEAD = min(env_float("PERFMON_DISPATCH_AHEAD", 30.0), 55.0)
# Seconds between scheduler ticks and sweeps (beat's system entries).
PERFMON_TICK_INTERVAL = env_float("PERFMON_TICK_INTERVAL", 5.0)
PERFMON_SWEEP_INTERVAL = env_float("PERFMON_SWEEP_INTERVAL", 30.0)
CELERY_BEAT_SCHEDULE = {
    "perfmon-dispatch-due": {
        "task": "perfmon.monitors.dispatch_due",
        "schedule": PERFMON_TICK_INTERVAL,
        # A tick that waited longer than one period is superseded by the next.
        "options": {"queue": "perfmon", "expires": PERFMON_TICK_INTERVAL},
    },
    "perfmon-check-agents": {
        "task": "perfmon.fleet.mark_offline",
        "schedule": PERFMON_SWEEP_INTERVAL / 2,
        "options": {"queue": "perfmon", "expires": PERFMON_SWEEP_INTERVAL / 2},
    },
    "perfmon-sweep-runs": {
        "task": "perfmon.runs.sweep",
        "schedule": PERFMON_SWEEP_INTERVAL,
        "options": {"queue": "perfmon", "expires": PERFMON_SWEEP_INTERVAL},
    },
}

# --- agents ---------------------------------------------------------------
# The broker URL enrolled agents receive (defaults to the control plane's own;
# set it when agents reach Redis by another address).
PERFMON_AGENT_BROKER_URL = env_str("PERFMON_AGENT_BROKER_URL") or CELERY_BROKER_URL
# Seconds between an agent's heartbeats (sent to agents at enrollment and in every answer).
PERFMON_HEARTBEAT_INTERVAL = env_float("PERFMON_HEARTBEAT_INTERVAL", 5.0)

# --- notifications --------------------------------------------------------
PERFMON_NOTIFY_TIMEOUT = env_float("PERFMON_NOTIFY_TIMEOUT", 10.0)
PERFMON_NOTIFY_MAX_ATTEMPTS = env_int("PERFMON_NOTIFY_MAX_ATTEMPTS", 6)
# Delay after the first failed attempt; doubles after each further one.
PERFMON_NOTIFY_BACKOFF_S = env_float("PERFMON_NOTIFY_BACKOFF_S", 10.0)
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "perfmon@localhost")

# --- operations: retention, /metrics (docs/operations.md) -----------------------
# Days a tenant's run series and logs, run summaries and resolved alerts are kept,
# unless the tenant's own settings (admin: Tenant settings) say otherwise.
PERFMON_RETENTION_SERIES_DAYS = env_int("PERFMON_RETENTION_SERIES_DAYS", 30)
PERFMON_RETENTION_RUNS_DAYS = env_int("PERFMON_RETENTION_RUNS_DAYS", 400)
PERFMON_RETENTION_ALERTS_DAYS = env_int("PERFMON_RETENTION_ALERTS_DAYS", 400)


def _tier_days(raw: str | None) -> dict[str, int]:
    """``community=90,professional=400`` (or a JSON object) -> {"community": 90, "professional": 400}."""
    text = (raw or "").strip()
    try:
        pairs = json.loads(text).items() if text.startswith("{") else [
            item.split("=", 1) for item in text.split(",") if item.strip()
        ]
        parsed = {str(tier).strip(): int(days) for tier, days in pairs}
    except (ValueError, TypeError, AttributeError):
        parsed = None
    if parsed is None or not all(tier and days > 0 for tier, days in parsed.items()):
        raise ImproperlyConfigured(f"PERFMON_TIER_MAX_RETENTION_DAYS must look like 'community=90', got {raw!r}")
    return parsed


# The longest retention each license tier allows (caps every retention above); tiers not named: no cap.
PERFMON_TIER_MAX_RETENTION_DAYS = _tier_days(env_str("PERFMON_TIER_MAX_RETENTION_DAYS"))
# Rows deleted per statement, and statements per retention pass (the next pass continues).
PERFMON_RETENTION_BATCH = env_int("PERFMON_RETENTION_BATCH", 2000)
PERFMON_RETENTION_MAX_BATCHES = env_int("PERFMON_RETENTION_MAX_BATCHES", 500)
PERFMON_RETENTION_INTERVAL = env_float("PERFMON_RETENTION_INTERVAL", 3600.0)
CELERY_BEAT_SCHEDULE["perfmon-retention"] = {
    "task": "perfmon.runs.retention",
    "schedule": PERFMON_RETENTION_INTERVAL,
    "options": {"queue": "perfmon", "expires": PERFMON_RETENTION_INTERVAL},
}
# /metrics: when set, scrapers must send `Authorization: Bearer <token>`; unset, /metrics is open.
PERFMON_METRICS_TOKEN = env_str("PERFMON_METRICS_TOKEN", "") or ""
# Seconds a computed scrape is reused (shared through the cache by all web processes); 0 computes every time.
PERFMON_METRICS_CACHE_SECONDS = env_float("PERFMON_METRICS_CACHE_SECONDS", 10.0)
