"""Starts the test provider (django-oidc-provider) on a loopback port, like tests/provider/op.mjs.

Binds DJOP_HOST:DJOP_PORT (127.0.0.1:0 = a free port), sets SITE_URL from the bound port,
migrates a fresh SQLite database (DJOP_DB, else a file in a new temporary folder), runs
`manage.py seed` (key, users, client), then prints `OP_READY {"issuer": ..., "port": ...}` on
stdout and serves with Django's threaded WSGI server (the one `runserver` uses, without the
autoreloader). Request lines and the package's debug log go to stderr.

Environment (all optional):
  DJOP_HOST, DJOP_PORT                 where to listen (127.0.0.1, 0)
  DJOP_DB                              the SQLite file (default: a new temporary one)
  DJOP_CLIENT_ID, DJOP_CLIENT_SECRET   the confidential client (test-client, test-secret)
  DJOP_REDIRECT_URIS                   comma-separated redirect URIs of the client
  DJOP_POST_LOGOUT_REDIRECT_URIS       comma-separated post-logout redirect URIs
  DJOP_REQUIRE_CONSENT                 1 (default): consent page once per user and client
  DJOP_JWT_ALG                         the client's ID token algorithm: RS256 (default) or HS256
  DJOP_TOKEN_EXPIRE                    OIDC_TOKEN_EXPIRE, access token lifetime in s (3600)
  DJOP_IDTOKEN_EXPIRE                  OIDC_IDTOKEN_EXPIRE, ID token lifetime in s (600)
  DJOP_IDTOKEN_INCLUDE_CLAIMS          1: scope claims in the ID token too (0)
  DJOP_FRESH_KEY                       1: a new RSA key instead of test-signing-key.pem
  DJOP_EXIT_ON_STDIN_EOF               1: exit when stdin closes (the test process died)
"""

import json
import os
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djop.settings")


def main():
    if os.environ.get("DJOP_EXIT_ON_STDIN_EOF") == "1":

        def exit_on_eof():
            while sys.stdin.buffer.read(4096):
                pass
            os._exit(0)

        threading.Thread(target=exit_on_eof, daemon=True).start()

    if not os.environ.get("DJOP_DB"):
        os.environ["DJOP_DB"] = os.path.join(tempfile.mkdtemp(prefix="django-op-"), "op.sqlite3")

    import django
    from django.conf import settings

    django.setup()

    from django.core.management import call_command
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    host = os.environ.get("DJOP_HOST", "127.0.0.1")
    port = int(os.environ.get("DJOP_PORT", "0"))
    server = ThreadedWSGIServer((host, port), WSGIRequestHandler, allow_reuse_address=True)
    port = server.server_address[1]
    # django-oidc-provider reads SITE_URL at every request: the issuer follows the bound port.
    settings.SITE_URL = f"http://{host}:{port}"

    call_command("migrate", verbosity=0, interactive=False)
    call_command("seed")

    from django.contrib.auth.models import User
    from oidc_provider import settings as oidc_settings

    # Each user's `sub` as the provider computes it (OIDC_IDTOKEN_SUB_GENERATOR: the user id).
    sub_of = oidc_settings.get("OIDC_IDTOKEN_SUB_GENERATOR", import_str=True)
    subs = {user.username: sub_of(user=user) for user in User.objects.all()}

    server.set_app(get_wsgi_application())
    issuer = f"{settings.SITE_URL}/openid"
    print("OP_READY " + json.dumps({"issuer": issuer, "port": port, "subs": subs}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
