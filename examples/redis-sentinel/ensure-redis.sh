#!/bin/sh
# `make test` step: make sure Debian's redis-server and redis-sentinel are installed.
# Installs them with apt-get when missing (as root), without leaving Debian's own
# services running: the suites start their own servers on 127.0.0.1 random ports.
# If they cannot be installed the step fails with the reason (under CI=true and
# elsewhere alike): a missing system is never a skipped example.
set -u
missing=""
for program in redis-server redis-sentinel redis-cli; do
    command -v "$program" >/dev/null 2>&1 || missing="$missing $program"
done
[ -z "$missing" ] && exit 0

fail() {
    echo "examples/redis-sentinel: missing:$missing; $1" >&2
    [ "${CI:-}" = "true" ] && echo "(CI=true: a missing system fails the run)" >&2
    exit 1
}
[ "$(id -u)" = 0 ] || fail "run as root to let make test install them, or apt-get install -y redis-server redis-sentinel"
command -v apt-get >/dev/null 2>&1 || fail "no apt-get here; install Redis 7 (redis-server, redis-sentinel) by hand"

# policy-rc.d 101 keeps the packages' maintainer scripts from starting the services.
policy=/usr/sbin/policy-rc.d
own_policy=no
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=yes
fi
log=$(mktemp)
ok=yes
{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server redis-sentinel; } >"$log" 2>&1 || ok=no
[ "$own_policy" = yes ] && rm -f "$policy"
for service in redis-server redis-sentinel; do  # in case something started them anyway
    service "$service" stop >/dev/null 2>&1 || true
done
if [ "$ok" = no ]; then
    reason=$(grep -E '^(E|W):' "$log" | head -n 1)
    rm -f "$log"
    fail "apt-get could not install them: ${reason:-see apt-get output}"
fi
rm -f "$log"
echo "examples/redis-sentinel: installed redis-server and redis-sentinel with apt-get"
