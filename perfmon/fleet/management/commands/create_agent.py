from perfmon.fleet.services import create_agent
from perfmon.tenants.management.base import TenantCommand


class Command(TenantCommand):
    help = (
        "Create an agent (shared by all tenants unless --tenant is given). "
        "Prints its one-time enrollment token as the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("agent_id", metavar="ID", help="slug such as eu-west-1")
        parser.add_argument("--location", required=True)
        parser.add_argument("--tenant", help="tenant slug; omit for a shared agent")
        parser.add_argument("--name", default="")
        parser.add_argument("--capacity", type=int, default=1)

    def handle(self, *args, agent_id, location, tenant, name, capacity, **options):
        owner = self.tenant(tenant) if tenant else None
        new = create_agent(agent_id=agent_id, location=location, tenant=owner, name=name, capacity=capacity)
        self.stderr.write(f"agent {new.agent.id} created ({'tenant ' + owner.slug if owner else 'shared'})")
        self.stdout.write(new.enrollment_token)
