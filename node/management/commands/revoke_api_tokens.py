"""``manage.py revoke_api_tokens <username>``: revoke (delete) every API token of a user at once."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser

from accounts.tokens import revoke_api_tokens
from serving.migrations import MigratedDatabaseCommand


class Command(MigratedDatabaseCommand):
    help = "Revoke every API token of a user; requests with them are answered 401 from now on."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: object, **options: object) -> None:
        user_model = get_user_model()
        try:
            user = user_model.objects.get_by_natural_key(options["username"])
        except user_model.DoesNotExist:
            raise CommandError(f"No user {options['username']!r}.") from None
        self.stdout.write(f"Revoked {revoke_api_tokens(user=user)} token(s) of {user.get_username()}.")
