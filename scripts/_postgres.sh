# Sourced by scripts/test: a private PostgreSQL cluster for the PostgreSQL leg.
# postgres_ensure installs Debian's postgresql when it is missing (root with
# apt-get); postgres_start runs a throwaway cluster on a free loopback port in a
# temporary directory and exports REGSTACK_TEST_POSTGRES (a libpq URL);
# postgres_stop stops it and removes the directory.

postgres_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

postgres_ensure() {
  if [ -z "$(postgres_bindir)" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing PostgreSQL (Debian package) for the PostgreSQL leg"
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postgresql >/dev/null; } || echo "   apt-get could not install postgresql"
  fi
  [ -n "$(postgres_bindir)" ]
}

# Run a PostgreSQL binary as the cluster's owner: initdb refuses root.
_postgres_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

postgres_start() {
  local bindir port
  bindir=$(postgres_bindir)
  POSTGRES_DIR=$(mktemp -d "${TMPDIR:-/tmp}/regstack-django-pg.XXXXXX")
  chmod 755 "$POSTGRES_DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$POSTGRES_DIR"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  _postgres_as_owner "$bindir/initdb" -D "$POSTGRES_DIR/data" -U postgres -A trust \
    --no-sync -E UTF8 >"$POSTGRES_DIR/initdb.log" 2>&1 || {
    cat "$POSTGRES_DIR/initdb.log" >&2
    return 1
  }
  # fsync off: a throwaway cluster; 300 connections: the deployment test runs
  # several web processes, workers and relays against it at once.
  _postgres_as_owner "$bindir/pg_ctl" -D "$POSTGRES_DIR/data" -l "$POSTGRES_DIR/server.log" -w \
    -o "-h 127.0.0.1 -p $port -k $POSTGRES_DIR -c fsync=off -c synchronous_commit=off -c max_connections=300" \
    start >/dev/null || {
    cat "$POSTGRES_DIR/server.log" >&2
    return 1
  }
  export REGSTACK_TEST_POSTGRES="postgresql://postgres@127.0.0.1:$port/postgres"
  echo "== PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($POSTGRES_DIR)"
}

postgres_stop() {
  [ -n "${POSTGRES_DIR:-}" ] || return 0
  _postgres_as_owner "$(postgres_bindir)/pg_ctl" -D "$POSTGRES_DIR/data" -m fast -w stop \
    >/dev/null 2>&1 || true
  rm -rf "$POSTGRES_DIR"
  POSTGRES_DIR=""
}
