#!/usr/bin/env bash
# scripts/postgres.sh start DIR | stop DIR
#
# Starts (or stops) a private PostgreSQL cluster for the PostgreSQL suites:
# initdb'd under DIR/data, listening on 127.0.0.1 only on a free high port,
# with its socket in DIR/run, trust authentication for loopback, fsync off
# (throw-away data), and one database "multidrop". PostgreSQL refuses to run
# as root: as root the cluster belongs to the "postgres" user (or to $PGUSER_OS
# when set); as another user it runs as that user.
# On start it writes DIR/env exporting MULTIDROP_PG_DSN, which the Go tests
# read (account/sqlstore/postgres and the root package).
set -euo pipefail
cmd=${1:?usage: postgres.sh start|stop DIR}
dir=${2:?usage: postgres.sh start|stop DIR}

# pgbin finds initdb and pg_ctl: on PATH, or in Debian's versioned directory.
pgbin() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return
  fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return; fi
  return 1
}

# as runs a command as the cluster's owner.
as() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$owner" -- "$@"
  else
    "$@"
  fi
}

# shellcheck source=scripts/ports.sh
. "$(dirname "$0")/ports.sh"

owner=$(id -un)
if [ "$(id -u)" = 0 ]; then owner=${PGUSER_OS:-postgres}; fi

case "$cmd" in
stop)
  if [ -f "$dir/data/postmaster.pid" ] && bin=$(pgbin); then
    as "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  exit 0
  ;;
start) ;;
*) echo "usage: postgres.sh start|stop DIR" >&2; exit 2 ;;
esac

bin=$(pgbin) || { echo "PostgreSQL (initdb, pg_ctl) is not installed" >&2; exit 1; }
getent passwd "$owner" >/dev/null || { echo "no user $owner to run PostgreSQL as" >&2; exit 1; }
mkdir -p "$dir"/{data,run}
dir=$(cd "$dir" && pwd)
chown "$owner" "$dir" "$dir/data" "$dir/run" 2>/dev/null || true
chmod 0700 "$dir/data"
# The owner must reach DIR through its parents (mktemp makes them 0700).
parent=$dir
while [ "$parent" != / ]; do
  parent=$(dirname "$parent")
  [ "$(id -u)" = 0 ] && [ "$parent" != / ] && chmod o+x "$parent" 2>/dev/null || true
done

as "$bin/initdb" -D "$dir/data" -U multidrop -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
  as "$bin/initdb" -D "$dir/data" -U multidrop -A trust -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }

port=$(free_ports 1)
cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/run'
fsync = off
synchronous_commit = on
full_page_writes = off
max_connections = 200
shared_buffers = 64MB
log_min_messages = warning
CONF

as "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 start >/dev/null ||
  { cat "$dir/postgres.log" >&2; exit 1; }
as "$bin/psql" -q -h 127.0.0.1 -p "$port" -U multidrop -d postgres -c "CREATE DATABASE multidrop" >/dev/null

cat >"$dir/env" <<ENV
export MULTIDROP_PG_DSN='postgres://multidrop@127.0.0.1:$port/multidrop?sslmode=disable'
ENV
echo "PostgreSQL on 127.0.0.1:$port (data $dir/data)"
