#!/usr/bin/env bash
# Start a PostgreSQL server from Debian's packages on loopback for the tests, with a role
# and database for them, and print the SQLAlchemy URL (tests read MASKWATCH_TEST_PG_URL).
#   export MASKWATCH_TEST_PG_URL=$(scripts/start_postgres.sh)
set -euo pipefail
DB=${MASKWATCH_TEST_PG_DB:-maskwatch_test}
USER_=${MASKWATCH_TEST_PG_USER:-maskwatch}
PASS=${MASKWATCH_TEST_PG_PASSWORD:-maskwatch}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  ($SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null) >&2
fi
VERSION=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q "^$VERSION "; then
  $SUDO pg_createcluster "$VERSION" main >/dev/null
fi
CLUSTER=$(pg_lsclusters -h | awk -v v="$VERSION" '$1 == v {print $2; exit}')
PORT=$(pg_lsclusters -h | awk -v v="$VERSION" '$1 == v {print $3; exit}')
if ! pg_lsclusters -h | awk -v v="$VERSION" '$1 == v {print $4}' | grep -q online; then
  $SUDO pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
fi
as_pg() { if [ -z "$SUDO" ]; then su postgres -s /bin/sh -c "$1"; else sudo -u postgres sh -c "$1"; fi; }
for _ in $(seq 30); do
  as_pg "pg_isready -q -h 127.0.0.1 -p $PORT" && break
  sleep 1
done
psql_() { as_pg "psql -q -p $PORT -v ON_ERROR_STOP=1 -c \"$1\"" >&2; }
if ! as_pg "psql -p $PORT -tAc \"SELECT 1 FROM pg_roles WHERE rolname='$USER_'\"" | grep -q 1; then
  psql_ "CREATE ROLE $USER_ LOGIN PASSWORD '$PASS'"
fi
if ! as_pg "psql -p $PORT -tAc \"SELECT 1 FROM pg_database WHERE datname='$DB'\"" | grep -q 1; then
  psql_ "CREATE DATABASE $DB OWNER $USER_"
fi
echo "postgresql+psycopg://$USER_:$PASS@127.0.0.1:$PORT/$DB"
