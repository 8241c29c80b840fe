"""Prepare one benchmark database: create, migrate, seed, and record what each case runs.

``python -m bench.prepare --size N --server-url URL --out FILE`` writes a JSON file with, per case,
the SQL the project runs for it (which the floor replays) and the number of SQL queries per request
of the project and of the plain-DRF reference, plus a staff token for the PATCH case.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time


def _setup_django(url: str, *, settings: str = "scale_nodes.settings") -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,testserver"
    # Plain HTTP on loopback, as behind a load balancer that ends TLS.
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["DJANGO_SETTINGS_MODULE"] = settings
    import django

    django.setup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--server-url", required=True, help="any PostgreSQL URL of the server to use")
    parser.add_argument("--suffix", default="", help="appended to the database name (smoke runs)")
    parser.add_argument("--recreate", action="store_true", help="drop and seed the database again")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--out", help="where to write the cases' SQL and query counts (JSON)")
    parser.add_argument(
        "--reference", action="store_true", help="(internal) the reference's token and query counts, in its settings"
    )
    args = parser.parse_args(argv)

    from bench.database import bench_database_url, ensure_database

    url = bench_database_url(args.server_url, args.size, suffix=args.suffix)
    if args.reference:
        _prepare_reference(url, size=args.size, out=args.out)
        return
    ensure_database(url, recreate=args.recreate)
    _setup_django(url)

    from django.core.management import call_command

    from bench import seed

    started = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    seeded_at = seed.seeded_at() or seed.seed(args.size)
    print(f"  {url.rsplit('/', 1)[1]}: migrated and seeded ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    if args.seed_only:
        return

    from bench.capture import capture_cases

    reference_out = f"{args.out}.reference"
    command = [sys.executable, "-m", "bench.prepare", f"--size={args.size}", f"--server-url={args.server_url}"]
    subprocess.run([*command, f"--suffix={args.suffix}", f"--out={reference_out}", "--reference"], check=True)
    with open(reference_out) as file:
        reference = json.load(file)
    os.unlink(reference_out)
    report = capture_cases(size=args.size, seeded_at=seeded_at, reference=reference)
    report["database_url"] = url
    with open(args.out, "w") as out:
        json.dump(report, out, indent=1)


def _prepare_reference(url: str, *, size: int, out: str) -> None:
    """In the reference's settings: its token table and the operator's token, and its queries per case."""
    _setup_django(url, settings="bench.reference_settings")
    from django.core.management import call_command

    from bench import seed
    from bench.capture import capture_reference

    call_command("migrate", "authtoken", verbosity=0, interactive=False)
    with open(out, "w") as file:
        json.dump(capture_reference(size=size, seeded_at=seed.seeded_at()), file)


if __name__ == "__main__":
    main()
