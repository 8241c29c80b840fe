"""Who makes a change, and through which channel: recorded with every change to a node."""

import getpass
import os
from dataclasses import dataclass

from django.http import HttpRequest

from node.models import NodeChange


@dataclass(frozen=True)
class Actor:
    """The author of a change: a user name or a command, the channel, and the request id if any."""

    name: str
    channel: str
    request_id: str | None = None

    def __str__(self) -> str:
        return f"{self.name} via {self.channel}"


SYSTEM = Actor(name="system", channel=NodeChange.Channel.SYSTEM)


def request_actor(request: HttpRequest, *, channel: str) -> Actor:
    """The user behind an API or admin request, with the request's id."""
    user = getattr(request, "user", None)
    name = user.get_username() if user is not None and user.is_authenticated else "anonymous"
    # Set by serving.middleware.RequestLogMiddleware from a sane X-Request-ID header, or generated.
    return Actor(name=name, channel=channel, request_id=getattr(request, "request_id", None))


def command_actor(command: str) -> Actor:
    """A manage.py command run from a shell, named with the operating-system user who ran it."""
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):
        # No login name in the environment or the password database: the uid still identifies.
        os_user = f"uid {os.getuid()}"
    return Actor(name=f"manage.py {command} (os user {os_user})", channel=NodeChange.Channel.CLI)
