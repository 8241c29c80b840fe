"""``manage.py create_api_token <username>``: a new API token for a script's user, printed once."""

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from accounts.tokens import create_api_token, revoke_api_tokens
from serving.migrations import MigratedDatabaseCommand
from util.iso8601 import parse_iso8601_duration


class Command(MigratedDatabaseCommand):
    help = (
        "Create an API token for a user and print it once (only its hash is stored). It expires after "
        "--expires (an ISO-8601 duration, default API_TOKEN_TTL_DAYS days) or never with --expires never; "
        "--replace revokes the user's other tokens first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--expires", metavar="DURATION", help="ISO-8601 duration such as P90D, or 'never'.")
        parser.add_argument("--replace", action="store_true", help="Revoke the user's existing tokens first.")

    def handle(self, *args: object, **options: object) -> None:
        user_model = get_user_model()
        try:
            user = user_model.objects.get_by_natural_key(options["username"])
        except user_model.DoesNotExist:
            raise CommandError(f"No user {options['username']!r}; create it first (see README).") from None
        expires_in = self._lifetime(options["expires"])
        if options["replace"]:
            revoked = revoke_api_tokens(user=user)
            self.stderr.write(f"Revoked {revoked} earlier token(s) of {user.get_username()}.")
        row, token = create_api_token(user=user, expires_in=expires_in)
        until = f"expires {row.expiry.isoformat()}" if row.expiry else "never expires"
        self.stderr.write(f"Token for {user.get_username()} ({until}); it is shown only now:")
        self.stdout.write(token)

    @staticmethod
    def _lifetime(value: str | None) -> dt.timedelta | None:
        if value is None:
            days = settings.API_TOKEN_TTL_DAYS
            return dt.timedelta(days=days) if days else None
        if value == "never":
            return None
        try:
            duration = parse_iso8601_duration(value)
        except ValueError as exc:
            raise CommandError(f"--expires: {exc}") from None
        now = timezone.now()
        # Years and months have calendar lengths: measure them from now.
        return (now + duration) - now
