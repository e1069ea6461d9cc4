"""HTTP to the control plane's /agent-api/v1, with one rule deciding retries.

Every failure is a TransportError whose ``permanent`` flag says whether
sending the same request again can ever help: connection errors,
timeouts, 5xx, 408 and 429 are temporary (retry with backoff); every
other 4xx is permanent (the request itself is wrong: log it and drop it).
"""

from __future__ import annotations

import threading

import requests

API_PREFIX = "/agent-api/v1"


class TransportError(Exception):
    """A request that did not succeed. ``permanent``: retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool, status: int | None = None,
                 code: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.status = status
        self.code = code
        self.retry_after = retry_after


def _error_from(response: requests.Response, method: str, path: str) -> TransportError:
    code, message = "", ""
    try:
        body = response.json()
        if isinstance(body, dict):
            code, message = str(body.get("error", "")), str(body.get("message", ""))
    except ValueError:
        message = response.text[:200].strip()
    status = response.status_code
    retry_after = None
    if status == 429:
        try:
            retry_after = float(response.headers.get("Retry-After", ""))
        except ValueError:
            retry_after = None
    permanent = 400 <= status < 500 and status not in (408, 429)
    text = f"{method} {path} answered {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    return TransportError(text, permanent=permanent, status=status, code=code, retry_after=retry_after)


class ControlPlane:
    """A client of one control plane. Thread-safe: one requests.Session per thread."""

    def __init__(self, server_url: str, credential: str = "", *, timeout: float = 30.0,
                 ca_bundle: str = "", user_agent: str = "perfmon-agent"):
        self.server_url = server_url.rstrip("/")
        self._credential = credential
        self._timeout = (min(10.0, timeout), timeout)
        self._verify: bool | str = ca_bundle or True
        self._user_agent = user_agent
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["User-Agent"] = self._user_agent
            session.trust_env = True  # honour HTTPS_PROXY / NO_PROXY of the agent's host
        return session

    def post(self, path: str, body: dict, *, auth: bool = True) -> dict:
        """POST JSON to ``path`` (below /agent-api/v1); return the JSON answer.

        Raises TransportError (see the module docstring for permanent vs not).
        """
        return self._request("POST", path, body, auth=auth)

    def get(self, path: str, *, auth: bool = False, absolute: bool = False) -> requests.Response:
        """GET ``path`` (a server path if ``absolute``); returns the response whatever its status.

        Raises TransportError for connection errors and timeouts only.
        """
        url = self.server_url + (path if absolute else API_PREFIX + path)
        try:
            return self._session().get(url, headers=self._headers(auth), timeout=self._timeout,
                                       verify=self._verify)
        except requests.RequestException as exc:
            raise TransportError(f"GET {path}: {_describe(exc)}", permanent=False) from None

    def _headers(self, auth: bool) -> dict:
        return {"Authorization": f"Bearer {self._credential}"} if auth and self._credential else {}

    def _request(self, method: str, path: str, body: dict, *, auth: bool) -> dict:
        url = self.server_url + API_PREFIX + path
        try:
            response = self._session().request(method, url, json=body, headers=self._headers(auth),
                                               timeout=self._timeout, verify=self._verify)
        except requests.RequestException as exc:
            raise TransportError(f"{method} {path}: {_describe(exc)}", permanent=False) from None
        if not 200 <= response.status_code < 300:
            raise _error_from(response, method, path)
        try:
            data = response.json()
        except ValueError:
            # A proxy's HTML page in front of a restarting server: try again later.
            raise TransportError(f"{method} {path}: the answer ({response.status_code}) is not JSON",
                                 permanent=False, status=response.status_code) from None
        return data if isinstance(data, dict) else {"data": data}


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error ({exc})"
    if isinstance(exc, requests.ConnectionError):
        return "cannot connect (is the control plane reachable?)"
    return str(exc)
