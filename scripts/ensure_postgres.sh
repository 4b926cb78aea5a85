#!/usr/bin/env bash
# Install Debian's PostgreSQL server for the event-store tests when it is missing
# and we may (root); otherwise say why the PostgreSQL tests will not run.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
    exit 0
fi
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure_postgres: installing postgresql from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null
    apt-get install -y -qq --no-install-recommends postgresql </dev/null >/dev/null
else
    echo "ensure_postgres: PostgreSQL is not installed and cannot be installed here" \
         "(needs root and apt-get); the PostgreSQL tests will skip" >&2
fi
