#!/usr/bin/env bash
# Start or stop a PgBouncer of our own on 127.0.0.1 with the repository's configuration (pgbouncer.ini),
# in front of the PostgreSQL server on 127.0.0.1:5432. It is a process this script starts and stops
# by its process id, never the system's service.
#
#   deploy/pgbouncer/pgbouncer.sh start|stop|status
#
# PGBOUNCER_PORT (default 6432) is its port; PGBOUNCER_RUN_DIR (default .pgbouncer/ in the repository)
# holds the generated configuration, the pid file and the log.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
port="${PGBOUNCER_PORT:-6432}"
run_dir="${PGBOUNCER_RUN_DIR:-$repo/.pgbouncer}"
pidfile="$run_dir/pgbouncer.pid"
binary="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"

running() {
    [[ -s "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

listening() {
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

case "${1:-}" in
start)
    [[ -x "$binary" ]] || { echo "pgbouncer is not installed: run 'make ops-tools' (as root)" >&2; exit 1; }
    if running; then
        echo "pgbouncer already running (pid $(cat "$pidfile")) on 127.0.0.1:$port"
        exit 0
    fi
    mkdir -p "$run_dir"
    # The repository's configuration, then this run's port and paths: a later line wins, and they
    # land in its last section, [pgbouncer] (a second [pgbouncer] header would reset every setting).
    { cat "$here/pgbouncer.ini"; cat <<INI; } >"$run_dir/pgbouncer.ini"

listen_port = $port
auth_file = $here/userlist.txt
pidfile = $pidfile
logfile = $run_dir/pgbouncer.log
INI
    # PgBouncer refuses to run as root; it then runs as the postgres system user.
    as_user=()
    if [[ "$(id -u)" == 0 ]]; then
        chown postgres "$run_dir"
        as_user=(-u postgres)
    fi
    "$binary" -d "${as_user[@]}" "$run_dir/pgbouncer.ini"
    for _ in $(seq 50); do
        if running && listening; then
            echo "pgbouncer started (pid $(cat "$pidfile")) on 127.0.0.1:$port, transaction pooling"
            exit 0
        fi
        sleep 0.1
    done
    echo "pgbouncer did not start; its log:" >&2
    tail -20 "$run_dir/pgbouncer.log" >&2 || true
    exit 1
    ;;
stop)
    if ! running; then
        echo "pgbouncer not running"
        exit 0
    fi
    pid="$(cat "$pidfile")"
    kill -TERM "$pid"
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || { echo "pgbouncer stopped (pid $pid)"; exit 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    echo "pgbouncer killed (pid $pid)"
    ;;
status)
    if running; then echo "running (pid $(cat "$pidfile")) on 127.0.0.1:$port"; else echo "not running"; exit 1; fi
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
