#!/bin/sh
# Starts one member of the example: a Redis server or a Sentinel, from Debian's
# packages. distlab fills the arguments from config.toml's command templates:
#   node.sh redis    INDEX PORT ADVERTISE_PORT PRIMARY_ADVERTISE_PORT DATA_DIR
#   node.sh sentinel INDEX PORT ADVERTISE_PORT PRIMARY_ADVERTISE_PORT DATA_DIR
# PORT is where the member listens (clients and peers alike: one_port = true).
# ADVERTISE_PORT is the ingress proxy in front of it: the address it tells its
# peers, so every peer connection to it runs through distlab's proxy.
# REDIS_EXTRA (from a test's env) adds server options, e.g. min-replicas-to-write.
set -eu
role=$1 index=$2 port=$3 advertise=$4 primary=$5 dir=$6
mkdir -p "$dir"
case $role in
redis)
    # No persistence: a restarted member resyncs from the primary, as in the
    # documented failure scenarios. The replica announces its proxy port; that
    # number is also what it sends in REPLCONF listening-port, which is how the
    # primary's ingress proxy tells which replica dialled.
    set -- --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
        --daemonize no --logfile "" --protected-mode no --repl-diskless-sync-delay 0 \
        --replica-announce-ip 127.0.0.1 --replica-announce-port "$advertise"
    if [ "$index" != 1 ]; then
        set -- "$@" --replicaof 127.0.0.1 "$primary"
    fi
    # shellcheck disable=SC2086 # REDIS_EXTRA is a list of options
    exec redis-server "$@" ${REDIS_EXTRA:-}
    ;;
sentinel)
    # Sentinel names its connections "sentinel-<first 8 chars of myid>-cmd".
    # Making those 8 characters the sentinel's advertised port (zero-padded)
    # lets one ingress rule identify sentinels by port, like replicas.
    conf="$dir/sentinel.conf"
    cat >"$conf" <<CONF
port $port
bind 127.0.0.1
daemonize no
dir $dir
sentinel myid $(printf '%08d%032d' "$advertise" 0)
sentinel announce-ip 127.0.0.1
sentinel announce-port $advertise
sentinel resolve-hostnames no
sentinel monitor primary 127.0.0.1 $primary 2
sentinel down-after-milliseconds primary 1000
sentinel failover-timeout primary 4000
sentinel parallel-syncs primary 1
CONF
    exec redis-sentinel "$conf"
    ;;
*)
    echo "node.sh: unknown role $role; use redis or sentinel" >&2
    exit 2
    ;;
esac
