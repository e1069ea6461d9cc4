"""Bootstrap what `make up` needs: the demo tenant and key, an operator, the local agent.

Re-runnable: a second run reuses the tenant, the key (from var/demo-api-key,
while it still authenticates) and the operator's password.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from perfmon.core.management.base import ScriptableCommand
from perfmon.fleet.models import Agent
from perfmon.fleet.services import create_agent, reissue_enrollment_token
from perfmon.tenants.services import authenticate_api_key, create_api_key, get_or_create_tenant

LOCAL_AGENT_ID = "default"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")


class Command(ScriptableCommand):
    help = "Create or reuse the demo tenant, its API key, the admin operator and the local agent."

    def add_arguments(self, parser):
        parser.add_argument(
            "--agent-config",
            help="the local agent's config file: without it, a new enrollment token is issued",
        )

    def handle(self, *args, agent_config=None, **options):
        var = settings.VAR_DIR
        with transaction.atomic():
            tenant = get_or_create_tenant(name="Demo", slug=settings.PERFMON_DEMO_TENANT_SLUG)
            key_file = var / "demo-api-key"
            key = key_file.read_text().strip() if key_file.exists() else ""
            api_key = authenticate_api_key(key) if key else None
            if api_key is None or api_key.tenant_id != tenant.pk:
                key = create_api_key(tenant=tenant, name="demo").value
                _write_private(key_file, key)

            password_file = var / "demo-admin-password"
            User = get_user_model()
            admin = User.objects.filter(username="admin").first()
            password = password_file.read_text().strip() if password_file.exists() else ""
            if admin is None or not password or not admin.check_password(password):
                password = password or secrets.token_urlsafe(12)
                admin = admin or User(username="admin", email="admin@localhost")
                admin.is_staff = admin.is_superuser = True
                admin.set_password(password)
                admin.save()
                _write_private(password_file, password)

            agent = Agent.all_tenants.filter(pk=LOCAL_AGENT_ID).first()
            if agent is None:
                token = create_agent(agent_id=LOCAL_AGENT_ID, location="local", name="Local agent").enrollment_token
            elif not agent.credential_hash or (agent_config and not Path(agent_config).exists()):
                # Never enrolled, or its config is gone: it must enroll (again).
                token = reissue_enrollment_token(agent=agent)
            else:
                token = None
            if token:
                _write_private(var / "agent-default-enrollment-token", token)

        self.stderr.write(f"tenant: {tenant.slug}")
        self.stderr.write(f"admin password: {password} (also in {password_file})")
        self.stderr.write(f"API key written to {key_file}")
        self.stdout.write(key)
