"""What every view of both API surfaces shares."""

from __future__ import annotations

from rest_framework.views import APIView


class PrincipalView(APIView):
    """A view whose ``request.user`` is a Principal: data is reached only through ``self.tenant``."""

    @property
    def tenant(self):
        return self.request.user.tenant

    @property
    def actor(self) -> str:
        return self.request.user.actor
