"""The benchmark cases: one request each, sent to the project, the reference and the floor alike."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass

from bench.seed import hostname

# Searches of the seeded hostnames (``bench.seed.hostname``): one matching a handful of nodes through
# the trigram index (11 at 1M: node-001234x and node-0001234), and one matching every one of them (a
# search takes at least three characters), which PostgreSQL must read and count in full.
SEARCH_FEW = "001234"
# A fragment as operators type it: the naming scheme every host shares, then digits (10 matches at
# 1M: node-0012340 to node-0012349), which the index looks up alone (``search_index_text``).
SEARCH_FRAGMENT = "node-001234"
SEARCH_HALF = "rack"
PATCH_BODY = json.dumps({"is_paused": True, "pause_reason": "Benchmark maintenance window"})
# The started case selects the nodes modified in the 30 days before seeding (about 8% of them).
STARTED_WINDOW = dt.timedelta(days=30)


@dataclass(frozen=True)
class Case:
    """One request: ``name`` for reports, ``kind`` (list, detail or patch) tells the floor what to answer."""

    name: str
    kind: str
    method: str
    path: str

    @property
    def body(self) -> str | None:
        return PATCH_BODY if self.method == "PATCH" else None


def cases(*, size: int, seeded_at: dt.datetime, now: dt.datetime) -> list[Case]:
    """The cases for a table of ``size`` seeded nodes (the middle node is the one read and patched)."""
    since = math.ceil((now - (seeded_at - STARTED_WINDOW)).total_seconds())
    last_page = max(1, math.ceil(size / 100))
    middle = max(1, size // 2)
    # Nodes other than the patched one (seeded ids are the seeding numbers), spread over the table.
    ten_ids = "&".join(f"id={max(1, size * k // 11)}" for k in range(1, 11))
    return [
        Case("list page_size=100", "list", "GET", "/v6/nodes/"),
        Case("list page_size=1000", "list", "GET", "/v6/nodes/?page_size=1000"),
        Case("list is_active=true", "list", "GET", "/v6/nodes/?is_active=true"),
        Case("list order=hostname", "list", "GET", "/v6/nodes/?order=hostname"),
        Case("list started=<30 days>", "list", "GET", f"/v6/nodes/?started=PT{since}S"),
        Case("list last page", "list", "GET", f"/v6/nodes/?page={last_page}"),
        Case("list is_paused=true", "list", "GET", "/v6/nodes/?is_paused=true"),
        Case("list is_active=true&is_paused=false", "list", "GET", "/v6/nodes/?is_active=true&is_paused=false"),
        Case("list hostname=<one>", "list", "GET", f"/v6/nodes/?hostname={hostname(max(1, size // 3)).upper()}"),
        Case("list id=<ten>", "list", "GET", f"/v6/nodes/?{ten_ids}"),
        Case("list search=<few>", "list", "GET", f"/v6/nodes/?search={SEARCH_FEW}"),
        Case("list search=<fragment>", "list", "GET", f"/v6/nodes/?search={SEARCH_FRAGMENT}"),
        Case("list search=<half>", "list", "GET", f"/v6/nodes/?search={SEARCH_HALF}"),
        Case("detail", "detail", "GET", f"/v6/nodes/{middle}/"),
        Case("PATCH", "patch", "PATCH", f"/v6/nodes/{middle}/"),
    ]
