"""`manage.py seed`: the provider's signing key, users, groups and client (idempotent)."""

import os
from pathlib import Path

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from oidc_provider.models import Client, ResponseType, RSAKey

KEY_FILE = Path(__file__).resolve().parents[3] / "test-signing-key.pem"

# (username, first name, last name, groups): like tests/provider/op.mjs's users.
USERS = [
    ("alice", "Alice", "Anderson", ["admins", "users"]),
    ("bob", "Bob", "Brown", ["users"]),
    ("carol", "Carol", "Clark", []),
]


def env_list(name):
    return [item for item in os.environ.get(name, "").split(",") if item]


class Command(BaseCommand):
    help = "Creates the RSA signing key, the users alice/bob/carol with their groups and the client."

    def handle(self, *args, **options):
        # The fixed, test-only key (tests/django-op/test-signing-key.pem) unless DJOP_FRESH_KEY=1
        # (then a new key per start, as `manage.py creatersakey` makes).
        if os.environ.get("DJOP_FRESH_KEY") == "1":
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import rsa

            pem = (
                rsa.generate_private_key(public_exponent=65537, key_size=2048)
                .private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.TraditionalOpenSSL,
                    serialization.NoEncryption(),
                )
                .decode("ascii")
            )
        else:
            pem = KEY_FILE.read_text()
        RSAKey.objects.all().delete()
        RSAKey.objects.create(key=pem)

        for username, first, last, groups in USERS:
            user, _ = User.objects.get_or_create(username=username)
            user.first_name = first
            user.last_name = last
            user.email = f"{username}@example.test"
            user.set_password(f"{username}-password")
            user.save()
            user.groups.set(Group.objects.get_or_create(name=name)[0] for name in groups)

        client, _ = Client.objects.get_or_create(
            client_id=os.environ.get("DJOP_CLIENT_ID", "test-client")
        )
        client.name = "oidc-layer tests"
        client.client_type = "confidential"
        client.client_secret = os.environ.get("DJOP_CLIENT_SECRET", "test-secret")
        client.jwt_alg = os.environ.get("DJOP_JWT_ALG", "RS256")
        client.redirect_uris = env_list("DJOP_REDIRECT_URIS")
        client.post_logout_redirect_uris = env_list("DJOP_POST_LOGOUT_REDIRECT_URIS")
        client.require_consent = os.environ.get("DJOP_REQUIRE_CONSENT", "1") == "1"
        client.reuse_consent = True
        client.save()
        client.response_types.set([ResponseType.objects.get(value="code")])
