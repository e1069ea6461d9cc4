"""People who sign in through the OpenID Connect provider (Keycloak)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from perfmon.core.models import TimeStamped


class OidcIdentity(TimeStamped):
    """Links a Django user to the provider's subject (``sub``), the only claim users are matched on.

    Email and username can change or be reused at the provider; ``sub`` is
    stable, so a new address never takes over someone else's account. The
    profile claims are copied on every sight so the dashboard can show them.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identity")
    issuer = models.CharField(max_length=255)
    sub = models.CharField(max_length=255)
    email = models.CharField(max_length=254, blank=True)
    name = models.CharField(max_length=255, blank=True)
    preferred_username = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name = "OIDC identity"
        verbose_name_plural = "OIDC identities"
        constraints = [
            # Also the index every Bearer request looks its user up by.
            models.UniqueConstraint(fields=["issuer", "sub"], name="oidcidentity_issuer_sub"),
        ]

    def __str__(self) -> str:
        return f"{self.preferred_username or self.email or self.sub} ({self.issuer})"
