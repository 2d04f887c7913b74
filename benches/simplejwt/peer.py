"""djangorestframework-simplejwt as a refresh peer: one Django module (settings, URLs, WSGI app).

Rotation on, blacklist after rotation on (the configuration comparable to tidepass's rotation
with reuse refusal), on PostgreSQL, with simplejwt's default HS256 tokens (a cheaper signature
than the Ed25519 tidepass's example signs with). Run by benches/store_cost.rs:

    SJ_SCHEMA=... gunicorn peer:application   (after `python peer.py setup`)
"""
import os
import sys

from django.conf import settings

SCHEMA = os.environ.get("SJ_SCHEMA", "tp_simplejwt")

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only-not-a-secret-0123456789abcdef",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "rest_framework",
            "rest_framework_simplejwt.token_blacklist",
        ],
        MIDDLEWARE=[],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "test",
                "USER": "postgres",
                "HOST": "127.0.0.1",
                "PORT": "5432",
                "CONN_MAX_AGE": None,
                "OPTIONS": {"options": f"-c search_path={SCHEMA}"},
            }
        },
        REST_FRAMEWORK={"DEFAULT_AUTHENTICATION_CLASSES": [], "DEFAULT_PERMISSION_CLASSES": []},
        SIMPLE_JWT={
            "ROTATE_REFRESH_TOKENS": True,
            "BLACKLIST_AFTER_ROTATION": True,
            "UPDATE_LAST_LOGIN": False,
        },
        USE_TZ=True,
    )

import django  # noqa: E402

django.setup()

from django.urls import path  # noqa: E402
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView  # noqa: E402

urlpatterns = [
    path("token", TokenObtainPairView.as_view()),
    path("refresh", TokenRefreshView.as_view()),
]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

if __name__ == "__main__" and sys.argv[1:] == ["setup"]:
    # Tables in the schema of its own, and the one user every client logs in as.
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection

    with connection.cursor() as c:
        c.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    call_command("migrate", verbosity=0)
    if not User.objects.filter(username="alice").exists():
        User.objects.create_user("alice", password="s3cret")
