"""Record, in-process, the SQL each benchmark case runs and the queries per request of each server."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.tokens import create_api_token
from bench.cases import cases

BENCH_USER = "bench-operator"


def staff_token() -> str:
    """A new day-long token of the benchmark's operator (a superuser, so it may change nodes)."""
    user, _ = get_user_model().objects.update_or_create(
        username=BENCH_USER, defaults={"is_staff": True, "is_superuser": True}
    )
    return create_api_token(user=user, expires_in=dt.timedelta(days=1))[1]


def _run(client: Client, case: object, token: str) -> tuple[int, list[str]]:
    # Reads are public: only the PATCH authenticates, as a client of the service would.
    headers = {"HTTP_AUTHORIZATION": f"Token {token}"} if case.method == "PATCH" else {}
    with CaptureQueriesContext(connection) as queries:
        response = client.generic(
            case.method,
            case.path,
            data=case.body or "",
            content_type="application/json",
            HTTP_HOST="127.0.0.1",
            **headers,
        )
    if response.status_code >= 300:
        raise RuntimeError(f"{case.method} {case.path}: {response.status_code} {response.content[:300]!r}")
    return response.status_code, [query["sql"] for query in queries.captured_queries]


def reference_token() -> str:
    """The benchmark operator's token of DRF's own ``authtoken`` (run under ``bench.reference_settings``)."""
    from rest_framework.authtoken.models import Token

    user, _ = get_user_model().objects.update_or_create(
        username=BENCH_USER, defaults={"is_staff": True, "is_superuser": True}
    )
    return Token.objects.get_or_create(user=user)[0].key


def capture_reference(*, size: int, seeded_at: dt.datetime) -> dict:
    """The reference's token and queries per request of each case (run under ``bench.reference_settings``)."""
    token = reference_token()
    client = Client()
    queries = {}
    for case in cases(size=size, seeded_at=seeded_at, now=dt.datetime.now(dt.UTC)):
        queries[case.name] = len(_run(client, case, token)[1])
    return {"token": token, "queries": queries}


def capture_cases(*, size: int, seeded_at: dt.datetime, reference: dict) -> dict:
    """Per case: the statements the project runs (for the floor) and each server's queries per request.

    ``reference`` is what ``capture_reference`` found in the reference's own process.
    """
    token = staff_token()
    client = Client()
    report: dict = {
        "size": size,
        "seeded_at": seeded_at.isoformat(),
        "token": token,
        "reference_token": reference["token"],
        "cases": [],
        "floor": {},
    }
    for case in cases(size=size, seeded_at=seeded_at, now=dt.datetime.now(dt.UTC)):
        _, statements = _run(client, case, token)
        queries = {"project": len(statements), "reference": reference["queries"][case.name]}
        report["cases"].append({**asdict(case), "body": case.body, "queries": queries})
        report["floor"][f"{case.method} {case.path}"] = {"kind": case.kind, "statements": statements}
    return report
