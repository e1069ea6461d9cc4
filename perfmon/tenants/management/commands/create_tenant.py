from perfmon.core.management.base import ScriptableCommand
from perfmon.tenants.services import create_tenant


class Command(ScriptableCommand):
    help = "Create a tenant. Prints its slug as the last line."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--slug", help="defaults to the slugified name")

    def handle(self, *args, name, slug, **options):
        tenant = create_tenant(name=name, slug=slug)
        self.stdout.write(tenant.slug)
