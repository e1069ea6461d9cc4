"""The provider's own views: JWKS with extra keys, a login form, and request counters for the tests."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.contrib.auth import authenticate, login
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.views import JwksInfoView

_counts: Counter = Counter()
_lock = threading.Lock()


class CountRequests:
    """Counts requests per path, so tests can see how often perfmon asked for the JWKS."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with _lock:
            _counts[request.path] += 1
        return self.get_response(request)


def stats(request):
    with _lock:
        return JsonResponse({"paths": dict(_counts)})


class Jwks(JwksInfoView):
    """The signing key (DOT's view) plus any public keys the fixture published (key rotation)."""

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        document = json.loads(response.content)
        if settings.EXTRA_JWKS_FILE and Path(settings.EXTRA_JWKS_FILE).exists():
            document["keys"].extend(json.loads(Path(settings.EXTRA_JWKS_FILE).read_text()))
        out = JsonResponse(document)
        out["Cache-Control"] = response["Cache-Control"]
        return out


@csrf_exempt
def login_form(request):
    """The realm's login page: a form on GET, a session on a good POST (then back to ``next``)."""
    next_url = request.POST.get("next") or request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/"
    if request.method == "POST":
        user = authenticate(request, username=request.POST.get("username"), password=request.POST.get("password"))
        if user is not None:
            login(request, user)
            return HttpResponseRedirect(next_url)
    return HttpResponse(
        "<form method=post>"
        f"<input name=username><input name=password type=password><input type=hidden name=next value=\"{escape(next_url)}\">"
        "<button>Sign in</button></form>",
        status=200 if request.method == "GET" else 401,
    )
