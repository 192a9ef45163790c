"""The claims the test provider releases: standard claims from the user and a `groups` scope."""

from django.utils.translation import gettext_lazy as _
from oidc_provider.lib.claims import ScopeClaims

# Per user: whether the email address is verified (alice yes, bob no, like tests/provider).
EMAIL_VERIFIED = {"alice": True, "bob": False, "carol": True}


def userinfo(claims, user):
    """OIDC_USERINFO: django-oidc-provider releases no `preferred_username`, `name` or
    `email_verified` unless this function fills them in."""
    claims["name"] = user.get_full_name()
    claims["given_name"] = user.first_name
    claims["family_name"] = user.last_name
    claims["preferred_username"] = user.username
    claims["email"] = user.email
    claims["email_verified"] = EMAIL_VERIFIED.get(user.username, False)
    return claims


class GroupsScopeClaims(ScopeClaims):
    """OIDC_EXTRA_SCOPE_CLAIMS: the `groups` scope releases the names of the user's Django
    groups as the `groups` claim (a JSON array, sorted)."""

    info_groups = (_("Groups"), _("The groups you belong to."))

    def scope_groups(self):
        return {"groups": sorted(self.user.groups.values_list("name", flat=True))}
