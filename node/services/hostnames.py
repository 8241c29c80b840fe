"""Hostnames of nodes: valid (RFC 1123) and unique regardless of letter case; renaming a node."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from node.actors import SYSTEM, Actor
from node.hostnames import validate_hostname
from node.models import HOSTNAME_MAX_LENGTH, Node
from node.selectors import nodes_with_hostnames
from node.services import clock, history

logger = logging.getLogger(__name__)


def taken_message(hostname: str) -> str:
    """What a writer is told when another node has ``hostname``."""
    return f"a node with the hostname {hostname!r} exists already (hostnames ignore letter case)."


def node_validate_hostname(*, hostname: str, node: Node | None = None) -> str:
    """Return ``hostname`` if it is valid (RFC 1123, at most 250 characters) and no other node has it.

    The clash check ignores letter case and ``node`` itself (for a rename). Raises ``ValueError``.
    """
    validate_hostname(hostname, max_length=HOSTNAME_MAX_LENGTH)
    clash = nodes_with_hostnames([hostname])
    if node is not None and node.pk is not None:
        clash = clash.exclude(pk=node.pk)
    other = clash.values_list("hostname", flat=True).first()
    if other is not None:
        raise ValueError(taken_message(other))
    return hostname


def node_rename(*, node: Node, hostname: str, actor: Actor = SYSTEM) -> Node:
    """Give ``node`` a new hostname (validated and unique, see ``node_validate_hostname``); advances ``last_modified``.

    A real change of the hostname is recorded in the node's history. Raises ``ValueError`` for a
    bad or taken hostname (nothing is written), ``Node.DoesNotExist`` when the node no longer exists.
    """
    try:
        with transaction.atomic():
            stamps = clock.advance(1)
            locked = Node.objects.select_for_update().get(pk=node.pk)
            old = locked.hostname
            locked.hostname = node_validate_hostname(hostname=hostname, node=locked)
            locked.last_modified, locked.change_index = stamps.time(0), stamps.index(0)
            locked.save(update_fields=["hostname", "last_modified", "change_index"])
            if locked.hostname != old:
                changes = {"hostname": {"old": old, "new": locked.hostname}}
                history.update_record(locked, actor=actor, changes=changes).save()
    except IntegrityError:
        # Someone registered the same hostname between the check and the write.
        raise ValueError(taken_message(hostname)) from None
    logger.info("node %s renamed from %s to %s by %s", locked.pk, old, locked.hostname, actor)
    return locked
