#!/usr/bin/env bash
# Install Debian's Java 17 runtime for the Spark engine's tests (pyspark starts a JVM) when
# `java` is missing and we may (root); otherwise say why the Spark tests cannot run.
set -euo pipefail
if command -v java >/dev/null 2>&1 || [[ -n "${JAVA_HOME:-}" && -x "${JAVA_HOME}/bin/java" ]]; then
    exit 0
fi
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure_java: installing openjdk-17-jre-headless from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    # An image without package lists (or with stale ones) needs an update first.
    apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless </dev/null >/dev/null \
        2>&1 || {
        apt-get update -qq </dev/null
        apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless </dev/null >/dev/null
    }
else
    echo "ensure_java: Java is not installed and cannot be installed here (needs root and" \
         "apt-get); install a Java 17 runtime and put it on PATH (or set JAVA_HOME):" \
         "the Spark engine and its tests need it" >&2
    exit 1
fi
