# Sourced by the benchmarks that need PostgreSQL (issue 17): Debian's PostgreSQL 15, run as
# the `postgres` user in a folder of its own, on a free loopback port, fsync on; pg_stop stops
# it (call it from the script's EXIT trap).
pg_bin=/usr/lib/postgresql/15/bin

# pg_start DIR [SERVER_OPTION...]: a cluster in DIR/data, its socket and log in DIR (made the
# postgres user's), a database `bench` owned by `capstan`; sets pg_port and pg_url.
pg_start() {
    local dir=$1
    shift
    [ -x "$pg_bin/initdb" ] || { echo "PostgreSQL 15 is missing: scripts/setup.sh installs it" >&2; exit 2; }
    mkdir -p "$dir" && chmod 755 "$dir" && chown postgres "$dir"
    pg_dir=$dir
    pg_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    runuser -u postgres -- "$pg_bin/initdb" -D "$dir/data" -U capstan -A trust -E UTF8 --no-locale >/dev/null
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $pg_port -k $dir -c listen_addresses=127.0.0.1 $*" start >/dev/null
    "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U capstan bench
    pg_url="postgres://capstan@127.0.0.1:$pg_port/bench"
}

pg_stop() {
    if [ -n "${pg_dir:-}" ]; then
        runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
    fi
}
