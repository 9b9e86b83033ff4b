#!/bin/sh
# PostgreSQL from Debian's package, started as the official image's
# entrypoint does: on the first start, a new cluster in the data directory
# (a named volume) with the user, password and database the environment
# names; then the server, as the postgres user, in the foreground.
set -eu
bin=/usr/lib/postgresql/15/bin
data=/var/lib/postgresql/data
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
mkdir -p "$data" /run/postgresql
chown postgres:postgres "$data" /run/postgresql
chmod 700 "$data"
if [ ! -s "$data/PG_VERSION" ]; then
	echo "$POSTGRES_PASSWORD" > /run/postgresql/pwfile
	chown postgres /run/postgresql/pwfile
	as_postgres "$bin/initdb" -D "$data" -U "$POSTGRES_USER" --pwfile=/run/postgresql/pwfile \
		-E UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256
	rm -f /run/postgresql/pwfile
	echo "host all all all scram-sha-256" >> "$data/pg_hba.conf"
	as_postgres "$bin/pg_ctl" -D "$data" -o "-c listen_addresses=''" -w start
	as_postgres psql -v ON_ERROR_STOP=1 -h /run/postgresql -U "$POSTGRES_USER" -d postgres \
		-c "CREATE DATABASE \"$POSTGRES_DB\""
	as_postgres "$bin/pg_ctl" -D "$data" -m fast -w stop
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$bin/postgres" -D "$data" -c listen_addresses='*' -c jit=off
