"""`manage.py deactivate USERNAME [--delete-tokens]`: what an administrator does to lock a user
out (is_active), optionally deleting the user's access and refresh tokens too."""

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from oidc_provider.models import Token


class Command(BaseCommand):
    help = "Sets is_active = False for a user; --delete-tokens deletes their tokens too."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--delete-tokens", action="store_true")

    def handle(self, *args, username, delete_tokens, **options):
        updated = User.objects.filter(username=username).update(is_active=False)
        if updated != 1:
            raise SystemExit(f"no user {username!r}")
        self.stdout.write(f"deactivated {username}")
        if delete_tokens:
            deleted, _ = Token.objects.filter(user__username=username).delete()
            self.stdout.write(f"deleted {deleted} token(s)")
