"""Run the test OpenID provider: ``python -m tests.oidc_provider.serve``.

Binds 127.0.0.1 on a free port first (so the issuer URL is known before
Django starts), creates its tables and the realm's users and clients, then
serves many requests at once and prints ``READY <port>`` when it accepts them.
Environment: PROVIDER_REALM_FILE, PROVIDER_KEY_FILE, PROVIDER_DB,
PROVIDER_EXTRA_JWKS_FILE (optional), PROVIDER_REALM (default perfscale).
"""

from __future__ import annotations

import contextlib
import os
import socketserver
import sys
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 64


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


def exit_with_parent(parent: int) -> None:
    """Stop when the test run that started us is gone (even if it was killed without cleaning up)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main() -> None:
    threading.Thread(target=exit_with_parent, args=(os.getppid(),), daemon=True).start()
    server = make_server("127.0.0.1", 0, lambda environ, start: [], server_class=ThreadingServer,
                         handler_class=QuietHandler)
    port = server.server_port
    realm_name = os.environ.get("PROVIDER_REALM", "perfscale")
    os.environ["PROVIDER_ISSUER"] = f"http://127.0.0.1:{port}/realms/{realm_name}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.oidc_provider.settings"

    import django
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)
    from tests.oidc_provider.validator import load_realm_into_database

    load_realm_into_database()
    server.set_app(get_wsgi_application())
    print(f"READY {port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.1)
    sys.exit(0)


if __name__ == "__main__":
    main()
