"""What every view of both API surfaces shares."""

from __future__ import annotations

from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView


class PrincipalView(APIView):
    """A view whose ``request.user`` is a Principal: data is reached only through ``self.tenant``."""

    @property
    def tenant(self):
        return self.request.user.tenant

    @property
    def actor(self) -> str:
        return self.request.user.actor


class SwaggerView(SpectacularSwaggerView):
    """Swagger UI whose OPTIONS answers the view's metadata as JSON.

    The page's only renderer is a template one, which has no template for
    DRF's metadata and so failed OPTIONS with a 500.
    """

    def get_renderers(self):
        if self.request is not None and self.request.method == "OPTIONS":
            return [JSONRenderer()]
        return super().get_renderers()
