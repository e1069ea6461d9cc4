from perfmon.tenants.management.base import TenantCommand
from perfmon.tenants.services import create_api_key


class Command(TenantCommand):
    help = "Create an API key for a tenant. Prints the key, shown only this once, as the last line."

    def add_arguments(self, parser):
        parser.add_argument("tenant", nargs="?", help="tenant slug (default: the demo tenant)")
        parser.add_argument("--name", default="", help="a label to recognise the key by")

    def handle(self, *args, tenant, name, **options):
        new_key = create_api_key(tenant=self.tenant(tenant), name=name)
        self.stderr.write(f"API key {new_key.api_key.prefix} created for {new_key.api_key.tenant.slug}")
        self.stdout.write(new_key.value)
