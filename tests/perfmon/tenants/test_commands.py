"""Management commands print their result as the last line and fail clearly on bad input."""

from datetime import UTC
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from perfmon.fleet.models import Agent
from perfmon.fleet.services import ENROLLMENT_KIND
from perfmon.tenants import licensing
from perfmon.tenants.models import Tenant
from perfmon.tenants.services import authenticate_api_key


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue().strip().splitlines()[-1]


@pytest.mark.django_db
def test_create_tenant_prints_slugified_name():
    assert run("create_tenant", "Acme Corp") == "acme-corp"
    assert Tenant.objects.get(slug="acme-corp").name == "Acme Corp"


@pytest.mark.django_db
def test_create_tenant_with_explicit_slug_and_duplicate_fails():
    assert run("create_tenant", "Acme Corp", "--slug", "acme") == "acme"
    with pytest.raises(CommandError, match="already exists"):
        run("create_tenant", "Other", "--slug", "acme")


@pytest.mark.django_db
def test_create_tenant_rejects_blank_name():
    with pytest.raises(CommandError, match="needs a name"):
        run("create_tenant", "  ")


def test_create_api_key_prints_a_working_key(acme):
    key = run("create_api_key", "acme")
    assert authenticate_api_key(key).tenant == acme


@pytest.mark.django_db
def test_create_api_key_for_unknown_tenant_fails():
    with pytest.raises(CommandError, match="tenant 'nope' does not exist"):
        run("create_api_key", "nope")


def test_create_api_key_defaults_to_demo_tenant(db, settings):
    from perfmon.tenants.services import create_tenant

    create_tenant(name="Demo", slug=settings.PERFMON_DEMO_TENANT_SLUG)
    assert authenticate_api_key(run("create_api_key")).tenant.slug == "demo"


def test_create_agent_prints_enrollment_token_and_stores_only_its_digest(acme):
    token = run("create_agent", "eu-west-1", "--location", "eu-west-1", "--tenant", "acme")
    assert token.startswith(f"{ENROLLMENT_KIND}_")
    agent = Agent.all_tenants.get(pk="eu-west-1")
    assert agent.tenant == acme and agent.location == "eu-west-1"
    assert token not in (agent.enrollment_hash, agent.enrollment_lookup)


@pytest.mark.django_db
def test_create_agent_without_tenant_is_shared():
    run("create_agent", "shared-1", "--location", "us-east-1")
    assert Agent.all_tenants.get(pk="shared-1").tenant is None


@pytest.mark.django_db
@pytest.mark.parametrize("bad_id", ["EU West", "x_y", "a" * 80, "ünï"])
def test_create_agent_rejects_bad_ids(bad_id):
    with pytest.raises(CommandError, match="agent id"):
        run("create_agent", bad_id, "--location", "x")


@pytest.mark.django_db
def test_create_agent_twice_fails():
    run("create_agent", "a1", "--location", "x")
    with pytest.raises(CommandError, match="already exists"):
        run("create_agent", "a1", "--location", "x")


def test_issue_license_roundtrip(tmp_path):
    private = tmp_path / "vendor.pem"
    public_b64 = run("issue_license", "--generate-keypair", "--private-key", str(private))
    assert oct(private.stat().st_mode & 0o777) == "0o600"
    token = run(
        "issue_license", "--private-key", str(private), "--tenant", "acme",
        "--tier", "enterprise", "--monitor-limit", "500", "--valid-until", "2099-01-01",
    )
    from datetime import datetime

    claims = licensing.verify(
        token, licensing.load_public_key(public_b64), tenant="acme", now=datetime.now(UTC)
    )
    assert (claims.tier, claims.monitor_limit) == ("enterprise", 500)
    assert claims.valid_until == datetime(2099, 1, 1, tzinfo=UTC)


def test_issue_license_bad_input_fails_clearly(tmp_path):
    private = tmp_path / "vendor.pem"
    run("issue_license", "--generate-keypair", "--private-key", str(private))
    with pytest.raises(CommandError, match="refusing to overwrite"):
        run("issue_license", "--generate-keypair", "--private-key", str(private))
    with pytest.raises(CommandError, match="--tenant is required"):
        run("issue_license", "--private-key", str(private))
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        run("issue_license", "--private-key", str(private), "--tenant", "a", "--valid-until", "soon")
    with pytest.raises(CommandError, match="already be expired"):
        run("issue_license", "--private-key", str(private), "--tenant", "a", "--valid-until", "2000-01-01")
    with pytest.raises(CommandError, match="cannot read the private key"):
        run("issue_license", "--private-key", str(tmp_path / "missing.pem"), "--tenant", "a")


@pytest.mark.django_db
def test_bootstrap_demo_is_rerunnable_and_reuses_key_and_password(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    first = run("bootstrap_demo")
    password = (tmp_path / "demo-admin-password").read_text().strip()
    second = run("bootstrap_demo")
    assert first == second == (tmp_path / "demo-api-key").read_text().strip()
    assert authenticate_api_key(first).tenant.slug == settings.PERFMON_DEMO_TENANT_SLUG
    assert (tmp_path / "demo-admin-password").read_text().strip() == password
    from django.contrib.auth import authenticate

    assert authenticate(username="admin", password=password) is not None
    assert Tenant.objects.filter(slug="demo").count() == 1
    assert Agent.all_tenants.get(pk="default").tenant is None
