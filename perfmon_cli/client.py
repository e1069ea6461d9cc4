"""The HTTP side of the CLI: /api with ``X-API-Key`` (and /api/v1 with a Bearer token for tests)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import requests

from perfmon_cli import __version__


class CliError(Exception):
    """Ends the command with ``exit_code`` and ``message`` on stderr."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ApiError(CliError):
    """The server answered with an error envelope (or could not be reached)."""

    def __init__(self, message: str, exit_code: int, status: int | None = None, code: str = "") -> None:
        super().__init__(message, exit_code)
        self.status = status
        self.code = code


# The dashboard shows ids shortened to 8 characters; 6 hex digits is the shortest prefix accepted
# (the server's minimum too, docs/api.md).
MIN_ID_PREFIX = 6
# Candidates listed when a shortened id matches several objects.
CANDIDATES_SHOWN = 10
_HEX = re.compile("[0-9a-f]+")


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def id_prefix(text: str) -> str | None:
    """The hex digits of a shortened id (``0d0afcb2``, dashes and case ignored), or None if ``text`` is none."""
    digits = text.strip().lower().replace("-", "")
    return digits if _HEX.fullmatch(digits) and len(digits) < 32 else None


def _ambiguous(kind: str, text: str, total: int, candidates: list[str]):
    from perfmon_cli import codes

    shown = "\n  ".join(candidates[:CANDIDATES_SHOWN])
    more = f"\n  … and {total - CANDIDATES_SHOWN} more" if total > CANDIDATES_SHOWN else ""
    return CliError(f"{total} {kind}s have an id starting with {text!r}; give more of the id:\n  {shown}{more}",
                    codes.USAGE)


@dataclass
class Client:
    """Talks to one perfmon server. ``api_key`` for /api, ``token`` (optional) for /api/v1."""

    url: str
    api_key: str = ""
    token: str = ""
    timeout: float = 30.0

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"perfmon-cli/{__version__}"

    # --- transport ------------------------------------------------------
    def _request(self, method: str, path: str, *, bearer: bool = False, **kwargs) -> requests.Response:
        from perfmon_cli import codes

        headers = kwargs.pop("headers", {})
        if bearer:
            headers["Authorization"] = f"Bearer {self.token}"
        else:
            headers["X-API-Key"] = self.api_key
        try:
            response = self.session.request(method, f"{self.url}{path}", headers=headers, timeout=self.timeout,
                                            **kwargs)
        except requests.RequestException as exc:
            raise ApiError(f"cannot reach {self.url}: {exc.__class__.__name__}: {exc}", codes.SERVER) from None
        if response.status_code < 400:
            return response
        try:
            body = response.json()
            code, message = body.get("error", ""), body.get("message", "")
        except ValueError:
            code, message = "", response.text[:300]
        text = f"{method} {path}: HTTP {response.status_code} {code}: {message}".replace(" : ", ": ")
        if response.status_code in (401, 403):
            exit_code = codes.AUTH
        elif response.status_code == 404:
            exit_code = codes.NOT_FOUND
        elif response.status_code in (400, 409):
            exit_code = codes.REJECTED
        else:
            exit_code = codes.SERVER
        raise ApiError(text, exit_code, status=response.status_code, code=code)

    def get(self, path: str, **kwargs):
        return self._request("GET", path, **kwargs).json()

    # --- /api -------------------------------------------------------------
    def monitors(self) -> list[dict]:
        return self.get("/api/monitors")

    def monitor(self, monitor_id: str) -> dict:
        return self.get(f"/api/monitors/{monitor_id}")

    def runs(self, monitor_id: str, limit: int = 20, offset: int = 0) -> dict:
        return self.get(f"/api/monitors/{monitor_id}/runs", params={"limit": limit, "offset": offset})

    def all_runs(self, limit: int = 20, offset: int = 0, id_prefix: str | None = None) -> dict:
        """The tenant's runs, newest first (GET /api/runs), optionally those whose id starts with ``id_prefix``."""
        params = {"limit": limit, "offset": offset}
        if id_prefix is not None:
            params["idPrefix"] = id_prefix
        return self.get("/api/runs", params=params)

    def run(self, run_id: str) -> dict:
        return self.get(f"/api/runs/{run_id}")

    def resolve_run_id(self, text: str) -> str:
        """The full id of the run ``text`` names: a whole id, or an unambiguous prefix of one.

        Raises CliError: not found (7) when no run of the key's tenant matches, usage (2) when the
        prefix is too short or matches several runs (the message lists them).
        """
        from perfmon_cli import codes

        if _is_uuid(text):
            return text
        digits = id_prefix(text)
        if digits is None:
            raise CliError(f"no run has the id {text!r}", codes.NOT_FOUND)
        if len(digits) < MIN_ID_PREFIX:
            raise CliError(f"a shortened run id needs at least {MIN_ID_PREFIX} characters, got {text!r}", codes.USAGE)
        page = self.all_runs(limit=CANDIDATES_SHOWN, id_prefix=digits)
        if page["total"] == 0:
            raise CliError(f"no run has an id starting with {text!r}", codes.NOT_FOUND)
        if page["total"] > 1:
            raise _ambiguous("run", text, page["total"],
                             [f"{r['id']}  {r.get('status')}  {r.get('startedAt') or '-'}" for r in page["runs"]])
        return page["runs"][0]["id"]

    def logs(self, run_id: str) -> tuple[str, str]:
        """(the run's whole log so far, the run's status from X-Run-Status)."""
        response = self._request("GET", f"/api/runs/{run_id}/logs", headers={"Accept": "text/plain"})
        response.encoding = "utf-8"
        return response.text, response.headers.get("X-Run-Status", "")

    def series(self, run_id: str, after: int = -1) -> dict:
        """The run's interval figures with seq > ``after`` (and its status)."""
        return self.get(f"/api/runs/{run_id}/series", params={"after": after})

    def run_requests(self, run_id: str) -> list[dict]:
        """The run's figures per request name, busiest first (GET /api/runs/{id}/requests)."""
        return self.get(f"/api/runs/{run_id}/requests")

    def run_errors(self, run_id: str) -> list[dict]:
        """The run's errors by request name and cause, the most frequent first (GET /api/runs/{id}/errors)."""
        return self.get(f"/api/runs/{run_id}/errors")

    def compare(self, run_ids: list[str]) -> dict:
        """The runs side by side with the relative change from the first (GET /api/runs/compare)."""
        return self.get("/api/runs/compare", params={"ids": ",".join(run_ids)})

    def cancel_run(self, run_id: str) -> dict:
        return self._request("POST", f"/api/runs/{run_id}/cancel").json()

    def trigger_monitor(self, monitor_id: str) -> dict:
        return self._request("POST", f"/api/monitors/{monitor_id}/run").json()

    def find_monitor(self, name_or_id: str) -> dict | None:
        """The monitor with this id, else with exactly this name, else this name in any case, else the one
        monitor whose id starts with it (at least MIN_ID_PREFIX hex digits, as the dashboard shows them).

        Raises CliError (usage, 2) when a name or an id prefix matches several monitors.
        """
        from perfmon_cli import codes

        if _is_uuid(name_or_id):
            try:
                return self.monitor(name_or_id)
            except ApiError as exc:
                if exc.status != 404:
                    raise
        monitors = self.monitors()
        for match in (lambda m: m["name"] == name_or_id, lambda m: m["name"].lower() == name_or_id.lower()):
            found = [m for m in monitors if match(m)]
            if len(found) > 1:
                ids = ", ".join(m["id"] for m in found)
                raise CliError(f"{len(found)} monitors are named {name_or_id!r} ({ids}): give the id", codes.USAGE)
            if found:
                return found[0]
        digits = id_prefix(name_or_id)
        if digits is None or len(digits) < MIN_ID_PREFIX:
            return None
        found = self.get("/api/monitors", params={"idPrefix": digits})
        if len(found) > 1:
            raise _ambiguous("monitor", name_or_id, len(found), [f"{m['id']}  {m['name']}" for m in found])
        return found[0] if found else None

    # --- /api/v1 (tests, with an OIDC Bearer token) --------------------------
    def find_test(self, name_or_id: str) -> dict | None:
        """The test with this id, else this name (exact, then in any case), else the one test whose id
        starts with it (the list holds every test of the tenant, so the prefix is matched here)."""
        tests = self.get("/api/v1/tests", bearer=True)
        for match in (lambda t: t["id"] == name_or_id, lambda t: t["name"] == name_or_id,
                      lambda t: t["name"].lower() == name_or_id.lower()):
            found = [t for t in tests if match(t)]
            if found:
                return found[0]
        digits = id_prefix(name_or_id)
        if digits is None or len(digits) < MIN_ID_PREFIX:
            return None
        found = [t for t in tests if t["id"].replace("-", "").startswith(digits)]
        if len(found) > 1:
            raise _ambiguous("test", name_or_id, len(found), [f"{t['id']}  {t['name']}" for t in found])
        return found[0] if found else None

    def trigger_test(self, test_id: str) -> dict:
        return self._request("POST", "/api/v1/tasks", bearer=True, json={"testId": test_id}).json()

    def task(self, task_id: str) -> dict:
        return self.get(f"/api/v1/tasks/{task_id}", bearer=True)
