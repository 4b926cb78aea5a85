#!/usr/bin/env bash
# Run a command with a throw-away PostgreSQL server for the event-store tests.
#
#   scripts/with_postgres.sh COMMAND [ARGS...]
#
# If OFFERS_TEST_POSTGRES_URL is already set, the command runs as is. Otherwise,
# when the PostgreSQL server programs are installed (Debian: apt-get install
# postgresql), a private cluster is created in a temporary directory, started
# on a free loopback port, given a database, and OFFERS_TEST_POSTGRES_URL points
# at it while COMMAND runs; the cluster is stopped and deleted afterwards. With
# no PostgreSQL installed the command runs without the variable (the PostgreSQL
# tests then skip, except under CI=true where they fail). The exit status is
# COMMAND's.
set -euo pipefail

if [[ -n "${OFFERS_TEST_POSTGRES_URL:-}" ]]; then
    exec "$@"
fi

bindir=""
if command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/initdb" ]]; then
    bindir="$(pg_config --bindir)"
fi
if [[ -z "$bindir" ]]; then
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$d/initdb" ]]; then bindir="$d"; break; fi
    done
fi
if [[ -z "$bindir" ]] && command -v initdb >/dev/null 2>&1; then
    bindir="$(dirname "$(command -v initdb)")"
fi
if [[ -z "$bindir" ]]; then
    echo "with_postgres: no PostgreSQL server programs found; PostgreSQL tests will skip" >&2
    exec "$@"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/offers-pg.XXXXXX")"
as_owner=()
if [[ "$(id -u)" == 0 ]]; then
    # initdb refuses to run as root: run the server as the unprivileged 'postgres'
    # user the Debian package creates (or 'nobody').
    owner=postgres
    id -u "$owner" >/dev/null 2>&1 || owner=nobody
    chown "$owner" "$tmp"
    as_owner=(runuser -u "$owner" --)
fi

cleanup() {
    "${as_owner[@]}" "$bindir/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"${as_owner[@]}" "$bindir/initdb" -D "$tmp/data" -U offers -A trust -E UTF8 --no-sync \
    >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; exit 1; }
# fsync off: a test server, thrown away afterwards.
if ! "${as_owner[@]}" "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $tmp -c fsync=off" >/dev/null; then
    cat "$tmp/server.log" >&2
    exit 1
fi
"${as_owner[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U offers offers_test

export OFFERS_TEST_POSTGRES_URL="postgresql://offers@127.0.0.1:$port/offers_test"
echo "with_postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
set +e
"$@"
status=$?
set -e
exit "$status"
