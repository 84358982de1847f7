# Sourced by the benchmarks: a throwaway PostgreSQL 15 (Debian's, default
# durability settings) in a temp dir, listening on 127.0.0.1 only.
#
#   pg_start NAME FREEPORT-CMD   sets PG_DSN (database postgres), PG_PORT,
#                                PG_DIR and PG_PID (the postmaster's PID)
#   pg_newdb NAME                creates database NAME, prints its DSN
#   pg_stop                      stops it (pg_ctl, by its data dir) and
#                                removes the dir
#   pg_cpu                       CPU seconds (user + system) of the server so
#                                far: the postmaster, its live processes and
#                                the backends that have exited

PGBIN=/usr/lib/postgresql/15/bin
PG_AS=(sh -c)
[ "$(id -u)" = 0 ] && PG_AS=(su postgres -s /bin/sh -c)

pg_available() { [ -x "$PGBIN/initdb" ]; }

pg_start() {
	local name=$1 port
	PG_DIR=$(mktemp -d "/tmp/$name-XXXXXX")
	chmod 755 "$PG_DIR"
	mkdir "$PG_DIR/data" "$PG_DIR/sock"
	touch "$PG_DIR/pg.log"
	[ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DIR/data" "$PG_DIR/sock" "$PG_DIR/pg.log"
	"${PG_AS[@]}" "'$PGBIN/initdb' -D '$PG_DIR/data' -A trust -U postgres --no-sync -E UTF8 --locale=C" >/dev/null
	# A free port: let the kernel pick one.
	port=$($2 2>/dev/null || echo 55432)
	cat >>"$PG_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$PG_DIR/sock'
max_connections = 200
log_min_messages = warning
CONF
	"${PG_AS[@]}" "'$PGBIN/pg_ctl' -D '$PG_DIR/data' -l '$PG_DIR/pg.log' -w -t 60 start" >/dev/null
	PG_PID=$(head -n 1 "$PG_DIR/data/postmaster.pid")
	PG_PORT=$port
	PG_DSN="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
}

pg_newdb() {
	"$PGBIN/dropdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres --if-exists "$1" >/dev/null 2>&1
	"$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$1"
	echo "postgres://postgres@127.0.0.1:$PG_PORT/$1?sslmode=disable"
}

pg_stop() {
	[ -n "${PG_DIR:-}" ] || return 0
	if ! "${PG_AS[@]}" "'$PGBIN/pg_ctl' -D '$PG_DIR/data' -m fast -w stop" >/dev/null 2>&1; then
		# pg_ctl could not stop it: stop the postmaster this script started,
		# by its PID, before its data directory goes.
		if [ -n "${PG_PID:-}" ] && kill -QUIT "$PG_PID" 2>/dev/null; then
			for _ in $(seq 100); do
				kill -0 "$PG_PID" 2>/dev/null || break
				sleep 0.1
			done
		fi
	fi
	rm -rf "$PG_DIR"
	PG_DIR="" PG_PID=""
}

pg_cpu() {
	local tck p f total=0
	tck=$(getconf CLK_TCK)
	for p in "$PG_PID" $(pgrep -P "$PG_PID"); do
		read -r -a f <"/proc/$p/stat" 2>/dev/null || continue
		# utime stime, and for the postmaster cutime cstime: its reaped
		# children (backends of closed connections).
		total=$((total + f[13] + f[14]))
		[ "$p" = "$PG_PID" ] && total=$((total + f[15] + f[16]))
	done
	awk -v t="$total" -v k="$tck" 'BEGIN { printf "%.2f", t / k }'
}
