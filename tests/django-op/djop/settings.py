"""Settings of the test provider: django-oidc-provider in a minimal Django project.

Test-only: a fixed secret key, DEBUG off, SQLite in a file the launcher (serve.py) picks.
Everything that varies per test comes from DJOP_* environment variables (see serve.py).
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value else default


def env_flag(name, default):
    value = os.environ.get(name)
    return default if value is None or value == "" else value == "1"


# Test-only: this provider never runs outside the end-to-end tests.
SECRET_KEY = "test-only-django-op-secret-key-not-for-production"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oidc_provider",
    "djop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "djop.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJOP_DB", str(BASE_DIR / "op.sqlite3")),
        # A throwaway database: no fsync (migrations at every start take 1.4 s with it, 0.2 s
        # without).
        "OPTIONS": {"init_command": "PRAGMA synchronous=OFF; PRAGMA journal_mode=MEMORY;"},
    }
}

# Fast hashing: users are created at every start (test-only passwords).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = []

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Browsers share cookies across the ports of a host: names of our own, like op.mjs's `op_*`.
SESSION_COOKIE_NAME = "djop_session"
CSRF_COOKIE_NAME = "djop_csrftoken"

LOGIN_URL = "/accounts/login/"

# --- django-oidc-provider ---------------------------------------------------------------
# The launcher sets SITE_URL once it knows its port (the issuer is SITE_URL + "/openid").
SITE_URL = os.environ.get("DJOP_SITE_URL")
OIDC_TOKEN_EXPIRE = env_int("DJOP_TOKEN_EXPIRE", 60 * 60)
OIDC_IDTOKEN_EXPIRE = env_int("DJOP_IDTOKEN_EXPIRE", 60 * 10)
# Off by default (the package's default): profile, email and groups come from userinfo only.
OIDC_IDTOKEN_INCLUDE_CLAIMS = env_flag("DJOP_IDTOKEN_INCLUDE_CLAIMS", False)
OIDC_USERINFO = "djop.claims.userinfo"
OIDC_EXTRA_SCOPE_CLAIMS = "djop.claims.GroupsScopeClaims"
# The login and consent pages carry the ids the harness's scripted browser looks for.
OIDC_TEMPLATES = {"authorize": "djop/authorize.html", "error": "djop/error.html"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(name)s %(levelname)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        # One line per request: "GET /openid/token HTTP/1.1" 200 ...
        "django.server": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        # Why a token or authorization request was refused (test-only secrets appear here).
        "oidc_provider": {"handlers": ["stderr"], "level": "DEBUG", "propagate": False},
        "django.request": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
    },
}
