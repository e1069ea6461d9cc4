import os
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from django.core.management.base import CommandError

from perfmon.core.management.base import ScriptableCommand
from perfmon.tenants import licensing


class Command(ScriptableCommand):
    help = (
        "Issue a signed license key with the vendor's Ed25519 private key (prints the key as the last "
        "line), or create that key pair with --generate-keypair."
    )

    def add_arguments(self, parser):
        parser.add_argument("--private-key", required=True, help="path of the Ed25519 private key (PEM)")
        parser.add_argument(
            "--generate-keypair",
            action="store_true",
            help="write a new key pair (PRIVATE and PRIVATE.pub) and print the public key",
        )
        parser.add_argument("--tenant", help="the tenant's slug the license is for")
        parser.add_argument("--tier", default="professional")
        parser.add_argument("--monitor-limit", type=int, default=50)
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--valid-until", help="expiry date, YYYY-MM-DD (end of that day is not included)")
        group.add_argument("--days", type=int, default=365, help="validity from now in days (default 365)")

    def handle(self, *args, **opts):
        path = Path(opts["private_key"])
        if opts["generate_keypair"]:
            return self._generate(path)
        if not opts["tenant"]:
            raise CommandError("--tenant is required to issue a license")
        if opts["monitor_limit"] < 1:
            raise CommandError("--monitor-limit must be at least 1")
        try:
            key = licensing.load_private_key(path.read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the private key {path}: {exc}") from None
        now = datetime.now(UTC)
        if opts["valid_until"]:
            try:
                day = datetime.strptime(opts["valid_until"], "%Y-%m-%d").date()
            except ValueError:
                raise CommandError("--valid-until must be a date, YYYY-MM-DD") from None
            valid_until = datetime.combine(day, time.min, tzinfo=UTC)
        else:
            valid_until = now + timedelta(days=opts["days"])
        if valid_until <= now:
            raise CommandError("the license would already be expired")
        token = licensing.sign(
            key,
            tenant=opts["tenant"],
            tier=opts["tier"],
            monitor_limit=opts["monitor_limit"],
            valid_until=valid_until,
        )
        self.stdout.write(token)

    def _generate(self, path: Path) -> None:
        if path.exists():
            raise CommandError(f"{path} exists; refusing to overwrite a private key")
        private_pem, public_pem = licensing.generate_keypair()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(private_pem)
        Path(f"{path}.pub").write_text(public_pem)
        self.stderr.write(f"private key written to {path}; set PERFMON_LICENSE_PUBLIC_KEY to the public key")
        self.stdout.write(licensing.public_key_base64(public_pem))
