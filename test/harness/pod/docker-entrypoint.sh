#!/usr/bin/env bash
# Stand-in for the postgres image's entrypoint (docker-library/postgres, 16/bookworm/docker-entrypoint.sh),
# written for the pod runner from that script's documented behaviour, not copied. What it reproduces, for
# a container that runs as a non-root uid (the StatefulSet sets runAsUser 999, so the image's gosu step
# never runs):
#   - an argument list starting with "-" is prefixed with "postgres";
#   - for "postgres ...": POSTGRES_USER (default postgres), POSTGRES_DB (default: the user),
#     POSTGRES_INITDB_ARGS, POSTGRES_INITDB_WALDIR, POSTGRES_HOST_AUTH_METHOD (default: the server's
#     password_encryption); PGDATA and /var/run/postgresql are created (chmod 700 / 3775, errors ignored);
#   - when PGDATA holds no PG_VERSION: POSTGRES_PASSWORD is required (unless the auth method is trust),
#     initdb --username --pwfile <password> $POSTGRES_INITDB_ARGS, "host all all all <method>" appended to
#     PGDATA/pg_hba.conf, a temporary server on the socket only (the container's arguments, plus
#     listen_addresses='' and -p ${PGPORT:-5432}), CREATE DATABASE POSTGRES_DB unless it is postgres, the
#     /docker-entrypoint-initdb.d files (*.sh sourced or run, *.sql through psql), fast stop of the
#     temporary server, then "PostgreSQL init process complete; ready for start up.";
#   - then exec of the arguments: postgres becomes the container's PID 1.
set -Eeuo pipefail

if [ "${1:-}" = "" ] || [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi
if [ "$1" != 'postgres' ]; then
	exec "$@"
fi
server_args=("${@:2}")

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_INITDB_ARGS:=}"
: "${PGDATA:?PGDATA must be set}"
export POSTGRES_USER POSTGRES_DB PGDATA

mkdir -p "$PGDATA"
chmod 00700 "$PGDATA" || :
mkdir -p /var/run/postgresql || :
chmod 03775 /var/run/postgresql || :
if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
	mkdir -p "$POSTGRES_INITDB_WALDIR"
	chmod 700 "$POSTGRES_INITDB_WALDIR" || :
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	: "${POSTGRES_HOST_AUTH_METHOD:=$(postgres -C password_encryption "${server_args[@]}")}"
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
		echo 'Error: Database is uninitialized and superuser password is not specified.' >&2
		echo '       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser.' >&2
		exit 1
	fi
	initdb_args=(--username="$POSTGRES_USER")
	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
		initdb_args+=(--waldir "$POSTGRES_INITDB_WALDIR")
	fi
	# POSTGRES_INITDB_ARGS is split by the shell, as upstream's eval does.
	# The password reaches initdb through a pipe, never a file or an argument.
	eval 'initdb "${initdb_args[@]}" --pwfile=<(printf "%s\n" "${POSTGRES_PASSWORD:-}") '"$POSTGRES_INITDB_ARGS"
	printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"

	PGUSER="${PGUSER:-$POSTGRES_USER}" pg_ctl -D "$PGDATA" \
		-o "$(printf '%q ' "${server_args[@]}" -c listen_addresses='' -p "${PGPORT:-5432}")" -w start
	psql_init=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
	if [ "$POSTGRES_DB" != 'postgres' ]; then
		PGPASSWORD='' "${psql_init[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db" ;'
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		# shellcheck source=/dev/null
		case "$f" in
			*.sh) if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
			*.sql) PGPASSWORD='' "${psql_init[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
			*) [ ! -e "$f" ] || echo "ignoring $f" ;;
		esac
	done
	PGUSER="${PGUSER:-$POSTGRES_USER}" pg_ctl -D "$PGDATA" -m fast -w stop
	echo 'PostgreSQL init process complete; ready for start up.'
else
	echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
fi

exec "$@"
