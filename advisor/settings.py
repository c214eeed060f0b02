"""Settings for LLM Fit Advisor, read from environment variables.

Embedded defaults run with no services: SQLite, and a Celery broker on SQLite through
kombu's SQLAlchemy transport. ``REDIS_URL`` switches the broker to Redis and
``DATABASE_URL`` switches the database (PostgreSQL in docker-compose).
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Management commands that serve nothing: they sign no cookie, session or token, so they run without
# SECRET_KEY (a newcomer's `manage.py fit` needs no secret). Everything else (runserver, gunicorn through
# advisor/wsgi.py, the Celery worker, `check --deploy`) keeps requiring one when DEBUG is off.
OFFLINE_COMMANDS = frozenset(
    {"fit", "catalog", "probe", "import_hf", "load_catalog", "migrate", "showmigrations", "createsuperuser",
     "changepassword", "collectstatic", "help", "check_setup"}
)  # fmt: skip


def offline_command(argv: list[str]) -> bool:
    """Whether ``argv`` runs ``manage.py <command>`` (or django-admin) for one of OFFLINE_COMMANDS, or lists them."""
    if Path(argv[0]).name not in ("manage.py", "django-admin", "__main__.py"):
        return False
    return len(argv) < 2 or argv[1] in OFFLINE_COMMANDS | {"--help", "-h"}


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"
    elif offline_command(sys.argv):
        SECRET_KEY = secrets.token_urlsafe(50)  # this process's own; nothing it signs outlives it
    else:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (set DEBUG=1 for local development)")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "advisor",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "advisor.urls"
WSGI_APPLICATION = "advisor.wsgi.application"

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
                "django.template.context_processors.csp",
            ],
        },
    },
]

VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
try:  # SQLite cannot create its folder; a fresh VAR_DIR would otherwise fail with "unable to open database file"
    VAR_DIR.mkdir(parents=True, exist_ok=True)
except OSError as exc:
    raise ImproperlyConfigured(f"VAR_DIR={VAR_DIR} cannot be created: {exc.strerror}") from None
DATABASES = {
    "default": dj_database_url.parse(env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"), conn_max_age=60)
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several processes (web + worker) share the file: wait for locks instead of failing. WAL lets
    # readers and one writer proceed together, and IMMEDIATE transactions take the write lock at BEGIN,
    # so a transaction never has to upgrade a read lock, which SQLite refuses at once under contention.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not :memory:, so that worker subprocesses in integration tests see the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# One language and no translations: the translation machinery only slowed every value a template prints (with one
# URL reverse per card, the results page 633.6 -> 600.7 M instructions, the same HTML;
# bench/data/recommendations_callgrind.txt).
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if not DEBUG:
    # Production serves static files through WhiteNoise; DEBUG uses Django's staticfiles finders.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

LOGIN_URL = "/login"

# Security headers. HTTPS settings are on unless DEBUG, so `check --deploy` is clean.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY") else None
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Content Security Policy: everything from our own origin, no inline script.
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}

# Celery. Default broker: SQLite through kombu's SQLAlchemy transport (no service needed).
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}")
CELERY_RESULT_BACKEND = env_str(
    "CELERY_RESULT_BACKEND", REDIS_URL or f"db+sqlite:///{VAR_DIR / 'celery-results.sqlite3'}"
)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("PROBE_TIME_LIMIT", 900) + 60
CELERY_TASK_SOFT_TIME_LIMIT = env_int("PROBE_TIME_LIMIT", 900)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = 3
CELERY_TASK_DEFAULT_QUEUE = "default"

# Probes: where models live, where stand-ins are cached, how long a probe may run.
MODELS_DIR = Path(env_str("MODELS_DIR", str(VAR_DIR / "models")))
STANDIN_CACHE_DIR = Path(env_str("STANDIN_CACHE_DIR", str(VAR_DIR / "standins")))
PROBE_TIME_LIMIT = env_int("PROBE_TIME_LIMIT", 900)
# Host memory a probe may use (GiB, 0 = no cap). Off by default: CUDA reserves large virtual ranges.
PROBE_MEMORY_LIMIT_GIB = env_int("PROBE_MEMORY_LIMIT_GIB", 0)
HOST_ID = env_str("HOST_ID")
# Written by scripts/run while it builds llama-cpp-python in the background (advisor/probe_engine.py).
PROBE_ENGINE_STATUS = VAR_DIR / "probe-engine.json"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# A cache shared by every process (web workers, Celery): rate limits and computed recommendations.
CACHES = {
    "default": (
        {
            "BACKEND": "advisor.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
        if REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    )
}
# Rate limits for the expensive actions: requests per user (or token, or IP) per minute.
PROBE_RATE_PER_MINUTE = env_int("PROBE_RATE_PER_MINUTE", 6)
IMPORT_RATE_PER_MINUTE = env_int("IMPORT_RATE_PER_MINUTE", 10)
CHECK_RATE_PER_MINUTE = env_int("CHECK_RATE_PER_MINUTE", 30)  # each check parses up to 4 MiB (2 s)
# A pasted log (check my setup) is read up to 4 MiB (advisor/core/loadlog.MAX_CHARS); the textarea is a form
# field, so the body limit leaves room for it. Bigger bodies are refused with 413 before they are read.
DATA_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024
