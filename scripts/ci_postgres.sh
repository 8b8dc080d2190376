#!/usr/bin/env bash
# Provision a real local PostgreSQL server for the test suite (Debian, run as root).
#
# Idempotent: safe to run repeatedly and when PostgreSQL is already running.
#   1. installs the `postgresql` package via apt if the server binaries are missing;
#   2. makes sure a cluster "main" of the newest installed major version exists,
#      configured for 127.0.0.1:5432 only, and is running;
#   3. waits (bounded) until `pg_isready` succeeds;
#   4. creates role `omnitwin` (LOGIN, password `omnitwin`) and database
#      `omnitwin_test` owned by it, if absent;
#   5. checks a real password login over TCP.
# All logging goes to stderr. The LAST line of stdout is the SQLAlchemy URL:
#   postgresql+psycopg://omnitwin:omnitwin@127.0.0.1:5432/omnitwin_test
set -euo pipefail

readonly PG_HOST=127.0.0.1
readonly PG_PORT=5432
readonly PG_ROLE=omnitwin
readonly PG_PASSWORD=omnitwin
readonly PG_DB=omnitwin_test
readonly CLUSTER=main
readonly READY_TIMEOUT="${OMNITWIN_PG_READY_TIMEOUT:-60}"
readonly PG_LIBDIR=/usr/lib/postgresql
readonly SOCKET_DIR=/var/run/postgresql
readonly URL="postgresql+psycopg://${PG_ROLE}:${PG_PASSWORD}@${PG_HOST}:${PG_PORT}/${PG_DB}"

log() { printf '[ci_postgres] %s\n' "$*" >&2; }
die() {
    printf '[ci_postgres] ERROR: %s\n' "$*" >&2
    exit 1
}

# Newest installed server major version (e.g. "15"), or empty if no server is installed.
server_version() {
    local d versions=()
    for d in "$PG_LIBDIR"/*/bin/postgres; do
        [[ -x "$d" ]] || continue
        d="${d#"$PG_LIBDIR"/}"
        versions+=("${d%%/*}")
    done
    ((${#versions[@]})) || return 0
    printf '%s\n' "${versions[@]}" | sort -V | tail -n 1
}

have_server() {
    command -v pg_ctlcluster >/dev/null 2>&1 &&
        command -v pg_lsclusters >/dev/null 2>&1 &&
        [[ -n "$(server_version)" ]]
}

# Run a command as the postgres OS user, from a directory it can read.
as_postgres() {
    (cd / && runuser -u postgres -- "$@")
}

# pg_lsclusters -h columns: version cluster port status owner datadir logfile
cluster_line() { pg_lsclusters -h 2>/dev/null | awk -v v="$1" -v c="$2" '$1 == v && $2 == c'; }

show_log_tail() {
    local logfile
    logfile="$(cluster_line "$1" "$CLUSTER" | awk '{print $7}')"
    logfile="${logfile:-/var/log/postgresql/postgresql-${1}-${CLUSTER}.log}"
    if [[ -r "$logfile" ]]; then
        log "last lines of $logfile:"
        tail -n 30 "$logfile" >&2 || true
    fi
}

is_ready() {
    "$PG_BIN/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" -t 2 >/dev/null 2>&1
}

# --- 0. preconditions --------------------------------------------------------------------
[[ "$(id -u)" -eq 0 ]] || die "must run as root (needs apt-get, pg_ctlcluster and runuser)"
[[ "$READY_TIMEOUT" =~ ^[0-9]+$ ]] || die "OMNITWIN_PG_READY_TIMEOUT must be an integer"

# A UTF-8 locale that always exists on Debian, so clusters get UTF8 encoding and
# initdb does not trip over an unset or ungenerated locale.
export LANG=C.UTF-8 LC_ALL=C.UTF-8

# --- 1. install the server if missing -------------------------------------------------------
if have_server; then
    log "PostgreSQL server binaries present (version $(server_version))"
else
    command -v apt-get >/dev/null 2>&1 ||
        die "PostgreSQL server is not installed and apt-get is not available"
    log "PostgreSQL server not installed; installing the 'postgresql' package via apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef
        -o Dpkg::Options::=--force-confold)
    updated=0
    for attempt in 1 2 3; do
        if apt-get "${apt_opts[@]}" update </dev/null >&2; then
            updated=1
            break
        fi
        log "apt-get update failed (attempt $attempt/3)"
        ((attempt == 3)) || sleep 5
    done
    ((updated)) || die "apt-get update failed 3 times; cannot install PostgreSQL"
    apt-get "${apt_opts[@]}" install -y --no-install-recommends postgresql </dev/null >&2 ||
        die "apt-get install postgresql failed"
    hash -r
    have_server ||
        die "PostgreSQL still missing after installing it (no pg_ctlcluster or $PG_LIBDIR/*/bin/postgres)"
    log "installed PostgreSQL $(server_version)"
fi

PG_VERSION="$(server_version)"
readonly PG_VERSION
readonly PG_BIN="$PG_LIBDIR/$PG_VERSION/bin"
for tool in pg_isready psql; do
    [[ -x "$PG_BIN/$tool" ]] || die "$PG_BIN/$tool not found (is postgresql-client-$PG_VERSION installed?)"
done
id postgres >/dev/null 2>&1 || die "OS user 'postgres' does not exist (broken postgresql install?)"

# --- 2. cluster: create if absent, configure, start --------------------------------------

if [[ -z "$(cluster_line "$PG_VERSION" "$CLUSTER")" ]]; then
    log "no cluster $PG_VERSION/$CLUSTER; creating it"
    pg_createcluster --locale C.UTF-8 -p "$PG_PORT" "$PG_VERSION" "$CLUSTER" >&2 ||
        die "pg_createcluster $PG_VERSION $CLUSTER failed"
fi

# Another online cluster (e.g. a different major version) already owning our port?
other="$(pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$CLUSTER" -v p="$PG_PORT" \
    '!($1 == v && $2 == c) && $3 == p && $4 ~ /online/ {print $1 "/" $2}')"
[[ -z "$other" ]] ||
    die "cluster(s) $other already online on port $PG_PORT; stop them (pg_ctlcluster <ver> <name> stop) and rerun"

# Settings go into a drop-in file in the cluster's conf.d (Debian's postgresql.conf includes
# it last, so it wins; pg_lsclusters/pg_ctlcluster read it too). Not pg_conftool: it writes
# listen_addresses = 127.0.0.1 unquoted, which is a syntax error for the server.
CONF_DIR="/etc/postgresql/$PG_VERSION/$CLUSTER"
DROPIN="$CONF_DIR/conf.d/50-omnitwin-ci.conf"
[[ -f "$CONF_DIR/postgresql.conf" ]] || die "$CONF_DIR/postgresql.conf missing (broken cluster?)"
wanted_conf="# Written by omnitwin scripts/ci_postgres.sh: test server on loopback only.
listen_addresses = '$PG_HOST'
port = $PG_PORT"
config_changed=0
if [[ ! -f "$DROPIN" ]] || [[ "$(cat "$DROPIN")" != "$wanted_conf" ]]; then
    log "writing $DROPIN (listen_addresses = '$PG_HOST', port = $PG_PORT)"
    install -d -m 0755 -o postgres -g postgres "$CONF_DIR/conf.d"
    printf '%s\n' "$wanted_conf" >"$DROPIN"
    chown postgres:postgres "$DROPIN"
    chmod 0644 "$DROPIN"
    config_changed=1
fi
# Check the values the server will really use (catches a postgresql.conf without
# include_dir = 'conf.d', or a later override).
DATA_DIR="$(cluster_line "$PG_VERSION" "$CLUSTER" | awk '{print $6}')"
effective() {
    as_postgres "$PG_BIN/postgres" -C "$1" -D "$DATA_DIR" \
        -c "config_file=$CONF_DIR/postgresql.conf"
}
if [[ -n "$DATA_DIR" && -d "$DATA_DIR" ]]; then
    eff_listen="$(effective listen_addresses || true)"
    eff_port="$(effective port || true)"
    [[ "$eff_listen" == "$PG_HOST" && "$eff_port" == "$PG_PORT" ]] ||
        die "effective config of cluster $PG_VERSION/$CLUSTER is listen_addresses='$eff_listen'" \
            "port='$eff_port', wanted '$PG_HOST' $PG_PORT (does $CONF_DIR/postgresql.conf" \
            "include_dir = 'conf.d', or is it overridden later / in postgresql.auto.conf?)"
fi

# The socket dir lives on /run, which may be empty after a reboot or in a fresh container.
install -d -m 2775 -o postgres -g postgres "$SOCKET_DIR"

start_rc=0
pg_ctlcluster "$PG_VERSION" "$CLUSTER" status >/dev/null 2>&1 || start_rc=$?
if ((start_rc == 0)); then
    if ((config_changed)) && ! is_ready; then
        log "cluster $PG_VERSION/$CLUSTER is running but not reachable on $PG_HOST:$PG_PORT; restarting"
        pg_ctlcluster "$PG_VERSION" "$CLUSTER" restart >&2 || {
            show_log_tail "$PG_VERSION"
            die "pg_ctlcluster $PG_VERSION $CLUSTER restart failed"
        }
    elif ((config_changed)); then
        # Reachable already: do not disrupt its current users; the file holds the setting.
        log "cluster $PG_VERSION/$CLUSTER already running and reachable; config change applies at next restart"
    else
        log "cluster $PG_VERSION/$CLUSTER already running"
    fi
else
    log "starting cluster $PG_VERSION/$CLUSTER"
    pg_ctlcluster "$PG_VERSION" "$CLUSTER" start >&2 || {
        show_log_tail "$PG_VERSION"
        die "pg_ctlcluster $PG_VERSION $CLUSTER start failed"
    }
fi

# --- 3. wait until it accepts connections --------------------------------------------------
deadline=$((SECONDS + READY_TIMEOUT))
until is_ready; do
    if ((SECONDS >= deadline)); then
        show_log_tail "$PG_VERSION"
        die "PostgreSQL not ready on $PG_HOST:$PG_PORT after ${READY_TIMEOUT}s (pg_isready)"
    fi
    sleep 1
done
log "PostgreSQL $PG_VERSION ready on $PG_HOST:$PG_PORT"

# --- 4. role and database ------------------------------------------------------------------
# Unix-socket peer auth as the postgres superuser. Names/password are fixed constants above.
as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$PG_PORT" -d postgres \
    >&2 <<SQL || die "could not create role '$PG_ROLE' / database '$PG_DB'"
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
        CREATE ROLE $PG_ROLE LOGIN PASSWORD '$PG_PASSWORD';
        RAISE NOTICE 'created role $PG_ROLE';
    ELSE
        ALTER ROLE $PG_ROLE WITH LOGIN PASSWORD '$PG_PASSWORD';
    END IF;
END
\$\$;
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_ROLE'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB')
\gexec
ALTER DATABASE $PG_DB OWNER TO $PG_ROLE;
SQL

# --- 5. verify a real password login over TCP, as the tests will do --------------------------
whoami_db="$(PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=10 "$PG_BIN/psql" -X -A -t -q \
    -h "$PG_HOST" -p "$PG_PORT" -U "$PG_ROLE" -d "$PG_DB" \
    -c 'SELECT current_user || chr(47) || current_database()' </dev/null)" ||
    die "password login as '$PG_ROLE' to '$PG_DB' on $PG_HOST:$PG_PORT failed"
[[ "$whoami_db" == "$PG_ROLE/$PG_DB" ]] ||
    die "unexpected login result '$whoami_db' (wanted '$PG_ROLE/$PG_DB')"
log "login OK as $whoami_db over TCP"

printf '%s\n' "$URL"
