#!/usr/bin/env bash
# Integration test entry point for rless.
#
#   sudo tests/run.sh            # full run: host setup + local registries + cargo test --workspace
#   sudo tests/run.sh pull       # extra arguments are passed to `cargo test --workspace`
#   tests/run.sh                 # as a normal user: no host setup, tests run as you only
#
# As root this script is idempotent and prepares a fresh Debian 12 machine:
# packages, two test users (one with a subuid/subgid range, one without),
# world-accessible /dev/fuse and /dev/net/tun, and throw-away docker-registry
# instances that are stopped when the script exits:
#   127.0.0.1:5000  open
#   127.0.0.1:5001  htpasswd (basic auth)
#   127.0.0.1:5002  bearer token auth; tokens from tests/token_server.py on
#                   127.0.0.1:5003 (RS256, signed with a throw-away self-signed
#                   certificate made by openssl)
#   127.0.0.1:5004  open, sharing 5002's storage: tests push there and pull
#                   the same images through 5002
#   rless-tls.test:5005  HTTPS with a certificate from a throw-away CA, and
#   rless-tls.test:5006  the same demanding a client certificate; both share
#                   5000's storage (root adds rless-tls.test to /etc/hosts:
#                   rless checks certificates of non-loopback names only)
# The token registry is left out (its tests skip) when python3 or openssl is
# missing in a non-root run, the TLS ones when openssl is missing or
# rless-tls.test does not resolve to 127.0.0.1.
#
# Environment knobs:
#   RLESS_TEST_REGISTRY=host:port  use an existing registry instead of starting them
#   RLESS_KEEP_REGISTRY=1          keep the registry storage/logs dir after exit
#   RLESS_TEST_CGROUP2=1 (or CI=true), as root: free the cgroup v1 controllers
#                                  nothing uses, hand them to the cgroup v2 tree
#                                  and export RLESS_TEST_CGROUP (see setup_cgroup2)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'run.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

TEST_USER=rlesstest
SOLO_USER=rlesssolo
SUBID_START=200000
SUBID_COUNT=65536
OPEN_PORT=5000
AUTH_PORT=5001
TOKEN_PORT=5002
TOKEN_SERVER_PORT=5003
TOKEN_PUSH_PORT=5004
TLS_PORT=5005
MTLS_PORT=5006
# A name for the TLS registries that is not a loopback address (rless, as
# docker, skips certificate checks for those): /etc/hosts points it at
# 127.0.0.1.
TLS_NAME=rless-tls.test
TOKEN_SERVICE=rless-test-registry
TOKEN_ISSUER=rless-test-token-issuer
AUTH_USER=rless
AUTH_PASS=rless-pass
PKGS=(uidmap busybox-static docker-registry apache2-utils openssl python3 fuse3 bindfs iproute2 curl podman podman-compose runc procps
    gcc libc6-dev ca-certificates)

# ---------------------------------------------------------------- packages
install_packages() {
    local missing=() p
    for p in "${PKGS[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "all packages present, skipping apt"
        return
    fi
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the docker-registry package from starting its own service on :5000.
    local made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local rc=0
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } </dev/null || rc=$?
    # Removed on failure too: left behind, it would stop every service start.
    [ "$made_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" -eq 0 ] || die "apt-get failed (exit $rc) installing: ${missing[*]}"
    return 0
}

stop_system_registry() {
    # The distribution package ships a service listening on :5000.
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ] &&
        systemctl is-active --quiet docker-registry 2>/dev/null; then
        log "stopping the docker-registry system service (it binds :5000)"
        systemctl stop docker-registry
    fi
}

# ---------------------------------------------------------------- users
drop_subid_lines() { # FILE NAME UID
    [ -f "$1" ] || return 0
    sed -i -e "/^$2:/d" -e "/^$3:/d" "$1"
}

ensure_user() { # NAME
    local name=$1 uid gid home
    if ! id -u "$name" >/dev/null 2>&1; then
        log "creating user $name"
        useradd --create-home --user-group --shell /bin/sh \
            -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$name"
    fi
    uid=$(id -u "$name")
    gid=$(id -g "$name")
    home=$(getent passwd "$name" | cut -d: -f6)
    mkdir -p "$home"
    chown "$uid:$gid" "$home"
    mkdir -p "/run/user/$uid"
    chown "$uid:$gid" "/run/user/$uid"
    chmod 0700 "/run/user/$uid"
}

setup_users() {
    touch /etc/subuid /etc/subgid
    ensure_user "$TEST_USER"
    ensure_user "$SOLO_USER"
    local f line
    line="$TEST_USER:$SUBID_START:$SUBID_COUNT"
    for f in /etc/subuid /etc/subgid; do
        if [ "$(grep -c "^$TEST_USER:" "$f" || true)" != 1 ] || ! grep -qx "$line" "$f"; then
            drop_subid_lines "$f" "$TEST_USER" "$(id -u "$TEST_USER")"
            echo "$line" >>"$f"
        fi
        # single-id mode: the solo user must have no range at all
        drop_subid_lines "$f" "$SOLO_USER" "$(id -u "$SOLO_USER")"
    done
}

setup_devices() {
    if [ -e /dev/fuse ]; then chmod 0666 /dev/fuse; else log "no /dev/fuse on this host"; fi
    if [ ! -e /dev/net/tun ]; then
        mkdir -p /dev/net
        mknod /dev/net/tun c 10 200 2>/dev/null || log "cannot create /dev/net/tun"
    fi
    [ -e /dev/net/tun ] && chmod 0666 /dev/net/tun
    # Unprivileged ICMP ping sockets for every group (Debian's "1 0" allows none).
    echo "0 2147483647" >/proc/sys/net/ipv4/ping_group_range
    if [ -f /proc/sys/kernel/unprivileged_userns_clone ] &&
        [ "$(cat /proc/sys/kernel/unprivileged_userns_clone)" = 0 ]; then
        log "enabling kernel.unprivileged_userns_clone"
        echo 1 >/proc/sys/kernel/unprivileged_userns_clone
    fi
    return 0
}

# ---------------------------------------------------------------- cgroup v2
# Only with CI=true or RLESS_TEST_CGROUP2=1, as root: this changes the
# host's cgroups, which a developer machine may not want. On a hybrid host
# a v1 controller can move to the v2 tree once its v1 hierarchy has no
# child cgroups and is unmounted; those in use (here memory, by the
# sandbox) stay on v1. The controllers v2 has are enabled in its root and
# in $RLESS_TEST_CGROUP, under which tests/cgroups.rs makes one subtree per
# scenario, delegated to the test user as systemd's Delegate=yes would.
# Nothing is restored: freed controllers stay with v2 (harmless to v1 users).
setup_cgroup2() {
    if [ "${CI:-}" != true ] && [ "${RLESS_TEST_CGROUP2:-0}" != 1 ]; then
        log "cgroup v2: host cgroups left alone (CI=true or RLESS_TEST_CGROUP2=1 prepares a delegated subtree)"
        return 0
    fi
    local mnt c v1 hier count target opts i enabled=() refused=()
    mnt=$(findmnt -rn -t cgroup2 -o TARGET | head -n 1)
    if [ -z "$mnt" ]; then
        log "cgroup v2: no cgroup2 mount; the cgroup tests will say why they cannot run"
        return 0
    fi
    # cpuset and io (v1's blkio) for tests/cgroups_limits.rs; stats read
    # block I/O from io.stat with io, from /proc without it.
    for c in cpu pids memory cpuset io; do
        v1=$c
        [ "$c" = io ] && v1=blkio
        hier= count=
        read -r hier count < <(awk -v n="$v1" '$1 == n {print $2, $3}' /proc/cgroups) || true
        [ -n "${hier:-}" ] && [ "$hier" != 0 ] || continue
        if [ "$count" != 1 ]; then
            log "cgroup v2: $v1 stays on cgroup v1 ($count v1 cgroups use it)"
            refused+=("$c: $count v1 cgroups use it")
            continue
        fi
        local gone=()
        while read -r target opts; do
            case ",$opts," in *",$v1,"*)
                if umount "$target"; then gone+=("$target:$opts"); else log "cgroup v2: cannot unmount $target"; fi ;;
            esac
        done < <(findmnt -rn -t cgroup -o TARGET,FS-OPTIONS)
        # The hierarchy goes away shortly after its last mount.
        for i in $(seq 1 50); do
            [ "$(awk -v n="$v1" '$1 == n {print $2}' /proc/cgroups)" = 0 ] && break
            sleep 0.1
        done
        if [ "$(awk -v n="$v1" '$1 == n {print $2}' /proc/cgroups)" != 0 ]; then
            # Mounted elsewhere too (another mount namespace): put it back.
            log "cgroup v2: $v1 stays on cgroup v1 (its hierarchy is still mounted elsewhere)"
            refused+=("$c: its v1 hierarchy cannot be unmounted")
            for target in "${gone[@]}"; do
                opts=${target#*:}
                mount -t cgroup -o "${opts#rw,}" cgroup "${target%%:*}" || log "cgroup v2: cannot remount ${target%%:*}"
            done
        fi
    done
    for c in $(cat "$mnt/cgroup.controllers"); do
        case $c in cpu | pids | memory | cpuset | io) ;; *) continue ;; esac
        if echo "+$c" >"$mnt/cgroup.subtree_control" 2>/dev/null; then
            enabled+=("$c")
        else
            log "cgroup v2: cannot enable $c in $mnt"
        fi
    done
    mkdir -p "$mnt/rless-test"
    # Scenario subtrees a killed run left behind (empty ones only).
    find "$mnt/rless-test" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
    for c in "${enabled[@]}"; do
        echo "+$c" >"$mnt/rless-test/cgroup.subtree_control" || log "cgroup v2: cannot enable $c in $mnt/rless-test"
    done
    export RLESS_TEST_CGROUP=$mnt/rless-test
    # The cgroup tests say why they cannot delegate what the host kept
    # (they skip only for a controller named here).
    if [ ${#refused[@]} -gt 0 ]; then
        local IFS=';'
        export RLESS_TEST_CGROUP_REFUSED="${refused[*]}"
    fi
    log "cgroup v2: $RLESS_TEST_CGROUP with controllers: ${enabled[*]:-none}"
}

# ---------------------------------------------------------------- registries
REG_DIR=
REG_PIDS=()
PIDFILE=${TMPDIR:-/tmp}/rless-test-registries.$(id -u).pids

cleanup() {
    local pid
    for pid in "${REG_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${REG_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -f "$PIDFILE"
    if [ -n "$REG_DIR" ]; then
        if [ "${RLESS_KEEP_REGISTRY:-0}" = 1 ]; then
            log "registry data kept in $REG_DIR"
        else
            rm -rf "$REG_DIR"
        fi
    fi
}

kill_stale_registries() {
    # Registries left behind by an earlier run that was killed hard.
    [ -f "$PIDFILE" ] || return 0
    local pid
    while read -r pid; do
        if [ -n "$pid" ] && grep -qs -e docker-registry -e token_server.py "/proc/$pid/cmdline"; then
            log "killing stale registry pid $pid"
            kill "$pid" 2>/dev/null || true
        fi
    done <"$PIDFILE"
    rm -f "$PIDFILE"
    sleep 0.5
}

port_busy() { # PORT
    if command -v ss >/dev/null 2>&1; then
        ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

write_registry_config() { # NAME PORT AUTH(none|htpasswd|token) [STORAGE-NAME] [TLS(tls|mtls)]
    local name=$1 port=$2 auth=$3 storage=${4:-$1} tls=${5:-}
    mkdir -p "$REG_DIR/$storage-storage"
    {
        echo "version: 0.1"
        echo "log:"
        echo "  level: info"
        echo "storage:"
        echo "  filesystem:"
        echo "    rootdirectory: $REG_DIR/$storage-storage"
        echo "  delete:"
        echo "    enabled: true"
        echo "  maintenance:"
        echo "    uploadpurging:"
        echo "      enabled: false"
        echo "http:"
        echo "  addr: 127.0.0.1:$port"
        echo "  secret: rless-test-$name"
        if [ -n "$tls" ]; then
            echo "  tls:"
            echo "    certificate: $REG_DIR/tls/server.crt"
            echo "    key: $REG_DIR/tls/server.key"
        fi
        if [ "$tls" = mtls ]; then
            echo "    clientcas:"
            echo "      - $REG_DIR/tls/ca.crt"
        fi
        # no http.debug section: the debug server would bind a second port
        echo "health:"
        echo "  storagedriver:"
        echo "    enabled: false"
        case $auth in
        htpasswd)
            echo "auth:"
            echo "  htpasswd:"
            echo "    realm: rless-test"
            echo "    path: $REG_DIR/htpasswd"
            ;;
        token)
            echo "auth:"
            echo "  token:"
            echo "    realm: http://127.0.0.1:$TOKEN_SERVER_PORT/token"
            echo "    service: $TOKEN_SERVICE"
            echo "    issuer: $TOKEN_ISSUER"
            echo "    rootcertbundle: $REG_DIR/token-cert.pem"
            ;;
        esac
    } >"$REG_DIR/$name.yml"
}

wait_registry() { # PORT EXPECTED_STATUS NAME [PATH]
    local code i path=${4:-/v2/}
    for i in $(seq 1 100); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1$path" || true)
        if [ "$code" = "$2" ]; then
            return 0
        fi
        sleep 0.1
    done
    log "$3 on :$1 did not come up (last status '$code'); log follows"
    cat "$REG_DIR/$3.log" >&2 || true
    return 1
}

# The TLS rig: a CA of this run's own, a server certificate for $TLS_NAME
# and a client certificate (for the registry that demands one), all in
# $REG_DIR/tls, readable by the test users (throw-away test keys).
make_tls() {
    local d=$REG_DIR/tls
    mkdir -p "$d"
    {
        openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=rless test CA" \
            -keyout "$d/ca.key" -out "$d/ca.crt" &&
            openssl req -newkey rsa:2048 -nodes -subj "/CN=$TLS_NAME" \
                -keyout "$d/server.key" -out "$d/server.csr" &&
            printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$TLS_NAME" >"$d/server.ext" &&
            openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
                -CAcreateserial -days 7 -extfile "$d/server.ext" -out "$d/server.crt" &&
            openssl req -newkey rsa:2048 -nodes -subj "/CN=rless test client" \
                -keyout "$d/client.key" -out "$d/client.csr" &&
            printf 'extendedKeyUsage=clientAuth\n' >"$d/client.ext" &&
            openssl x509 -req -in "$d/client.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
                -CAcreateserial -days 7 -extfile "$d/client.ext" -out "$d/client.cert"
    } >"$REG_DIR/tls-openssl.log" 2>&1 || {
        cat "$REG_DIR/tls-openssl.log" >&2
        die "openssl could not make the TLS test certificates"
    }
    chmod 0755 "$d"
    chmod 0644 "$d"/*
}

# $TLS_NAME must resolve to 127.0.0.1: as root, /etc/hosts gets a line.
tls_name_ready() {
    if [ "$IS_ROOT" = 1 ] && ! grep -qw "$TLS_NAME" /etc/hosts; then
        echo "127.0.0.1 $TLS_NAME # rless tests (tests/run.sh)" >>/etc/hosts
    fi
    [ "$(getent hosts "$TLS_NAME" | awk '{print $1; exit}')" = 127.0.0.1 ]
}

wait_tls_registry() { # PORT NAME [CURL ARGS…]
    local port=$1 name=$2 code i
    shift 2
    for i in $(seq 1 100); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$REG_DIR/tls/ca.crt" "$@" \
            "https://$TLS_NAME:$port/v2/" || true)
        [ "$code" = 200 ] && return 0
        sleep 0.1
    done
    log "$name on :$port did not come up (last status '$code'); log follows"
    cat "$REG_DIR/$name.log" >&2 || true
    return 1
}

# The token rig needs python3 and openssl; run.sh installs both as root.
token_rig_possible() {
    command -v python3 >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1
}

start_bg() { # NAME COMMAND... (output to $REG_DIR/NAME.log)
    local name=$1
    shift
    "$@" >"$REG_DIR/$name.log" 2>&1 </dev/null &
    REG_PIDS+=($!)
    echo "$!" >>"$PIDFILE"
}

start_registries() {
    local bin with_token=0
    bin=$(command -v docker-registry || true)
    [ -z "$bin" ] && [ -x /usr/bin/docker-registry ] && bin=/usr/bin/docker-registry
    if [ -z "$bin" ]; then
        log "docker-registry not installed: registry tests will be skipped"
        return 0
    fi
    command -v htpasswd >/dev/null || die "htpasswd (apache2-utils) is missing"
    command -v curl >/dev/null || die "curl is missing"
    kill_stale_registries
    local ports=("$OPEN_PORT" "$AUTH_PORT") port
    if token_rig_possible; then
        with_token=1
        ports+=("$TOKEN_PORT" "$TOKEN_SERVER_PORT" "$TOKEN_PUSH_PORT")
    elif [ "$IS_ROOT" = 1 ]; then
        die "python3 or openssl is missing (needed for the token registry)"
    else
        log "python3 or openssl missing: no token registry, its tests will be skipped"
    fi
    local with_tls=0
    if command -v openssl >/dev/null 2>&1 && tls_name_ready; then
        with_tls=1
        ports+=("$TLS_PORT" "$MTLS_PORT")
    elif [ "$IS_ROOT" = 1 ]; then
        die "openssl is missing, or $TLS_NAME does not resolve to 127.0.0.1 (needed for the TLS registries)"
    else
        log "openssl missing or $TLS_NAME not in /etc/hosts: no TLS registries, their tests will be skipped"
    fi
    for port in "${ports[@]}"; do
        if port_busy "$port"; then
            die "127.0.0.1:$port is already in use; stop whatever listens there (or set RLESS_TEST_REGISTRY)"
        fi
    done
    REG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rless-registry.XXXXXX")
    chmod 0755 "$REG_DIR"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    htpasswd -Bbn "$AUTH_USER" "$AUTH_PASS" >"$REG_DIR/htpasswd"
    write_registry_config open "$OPEN_PORT" none
    write_registry_config auth "$AUTH_PORT" htpasswd
    local name names=(open auth)
    if [ "$with_token" = 1 ]; then
        # Throw-away self-signed signing certificate: the token server puts it
        # in each token's x5c header, the registry trusts it as the root.
        openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 7 \
            -subj "/CN=$TOKEN_ISSUER" \
            -keyout "$REG_DIR/token-key.pem" -out "$REG_DIR/token-cert.pem" \
            >"$REG_DIR/openssl.log" 2>&1 || {
            cat "$REG_DIR/openssl.log" >&2
            die "openssl could not create the token signing certificate"
        }
        write_registry_config token "$TOKEN_PORT" token
        write_registry_config tokenpush "$TOKEN_PUSH_PORT" none token
        names+=(token tokenpush)
        start_bg token-server python3 "$PWD/tests/token_server.py" \
            --addr "127.0.0.1:$TOKEN_SERVER_PORT" \
            --key "$REG_DIR/token-key.pem" --cert "$REG_DIR/token-cert.pem" \
            --issuer "$TOKEN_ISSUER" --service "$TOKEN_SERVICE" \
            --credentials "$AUTH_USER:$AUTH_PASS" --deny forbidden --pull-only readonly \
            --expired-first stale
    fi
    if [ "$with_tls" = 1 ]; then
        # Both serve the open registry's storage: tests push there.
        make_tls
        write_registry_config tls "$TLS_PORT" none open tls
        write_registry_config mtls "$MTLS_PORT" none open mtls
        names+=(tls mtls)
    fi
    for name in "${names[@]}"; do
        start_bg "$name" "$bin" serve "$REG_DIR/$name.yml"
    done
    wait_registry "$OPEN_PORT" 200 open
    wait_registry "$AUTH_PORT" 401 auth
    log "registries up: 127.0.0.1:$OPEN_PORT (open), 127.0.0.1:$AUTH_PORT (basic auth); data in $REG_DIR"
    export RLESS_TEST_REGISTRY=127.0.0.1:$OPEN_PORT
    export RLESS_TEST_REGISTRY_DIR=$REG_DIR/open-storage
    export RLESS_TEST_AUTH_REGISTRY=127.0.0.1:$AUTH_PORT
    export RLESS_TEST_AUTH_USER=$AUTH_USER
    export RLESS_TEST_AUTH_PASS=$AUTH_PASS
    if [ "$with_tls" = 1 ]; then
        wait_tls_registry "$TLS_PORT" tls
        wait_tls_registry "$MTLS_PORT" mtls --cert "$REG_DIR/tls/client.cert" --key "$REG_DIR/tls/client.key"
        log "TLS registries up: $TLS_NAME:$TLS_PORT, $TLS_NAME:$MTLS_PORT (client certificate); CA and client certificate in $REG_DIR/tls"
        export RLESS_TEST_TLS_REGISTRY=$TLS_NAME:$TLS_PORT
        export RLESS_TEST_MTLS_REGISTRY=$TLS_NAME:$MTLS_PORT
        export RLESS_TEST_TLS_DIR=$REG_DIR/tls
    fi
    if [ "$with_token" = 1 ]; then
        wait_registry "$TOKEN_SERVER_PORT" 200 token-server /healthz
        wait_registry "$TOKEN_PORT" 401 token
        wait_registry "$TOKEN_PUSH_PORT" 200 tokenpush
        log "token registry up: 127.0.0.1:$TOKEN_PORT (bearer, tokens from 127.0.0.1:$TOKEN_SERVER_PORT), push via 127.0.0.1:$TOKEN_PUSH_PORT"
        export RLESS_TEST_TOKEN_REGISTRY=127.0.0.1:$TOKEN_PORT
        export RLESS_TEST_TOKEN_PUSH_REGISTRY=127.0.0.1:$TOKEN_PUSH_PORT
        export RLESS_TEST_TOKEN_USER=$AUTH_USER
        export RLESS_TEST_TOKEN_PASS=$AUTH_PASS
    fi
}

# ---------------------------------------------------------------- cargo
find_cargo() {
    command -v cargo >/dev/null 2>&1 && return 0
    # `sudo` resets PATH; look in the usual rustup places.
    local h
    for h in "${CARGO_HOME:-}" "$HOME/.cargo" \
        "$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)/.cargo" /root/.cargo; do
        if [ -n "$h" ] && [ -x "$h/bin/cargo" ]; then
            export PATH="$h/bin:$PATH"
            return 0
        fi
    done
    die "cargo not found in PATH"
}

# ---------------------------------------------------------------- main
if [ "$IS_ROOT" = 1 ]; then
    install_packages
    stop_system_registry
    setup_users
    setup_devices
    setup_cgroup2
    export RLESS_TEST_USER=$TEST_USER
    export RLESS_TEST_SOLO_USER=$SOLO_USER
else
    log "not root: skipping apt, test users and /dev permissions; tests run as $(id -un) only"
fi

if [ -n "${RLESS_TEST_REGISTRY:-}" ]; then
    log "using the registry from the environment: $RLESS_TEST_REGISTRY"
else
    start_registries
fi

if [ "$IS_ROOT" = 1 ] || [ "${CI:-}" = true ]; then
    export RLESS_MUST_WORK=1
fi

find_cargo
status=0
# Build first, then say how much disk is left for the tests' stores: a
# machine whose disk the build filled fails with "nearly full" everywhere.
cargo test --workspace --no-run "$@" || status=$?
log "disk after the build: $(df -h --output=avail . /tmp 2>/dev/null | tail -n +2 | tr -s ' ' | paste -sd ' ')"
[ "$status" -ne 0 ] || cargo test --workspace --no-fail-fast "$@" || status=$?
if [ "$status" -ne 0 ] && [ -n "$REG_DIR" ]; then
    for name in open auth token tokenpush token-server; do
        [ -f "$REG_DIR/$name.log" ] || continue
        log "last lines of the $name log:"
        tail -n 15 "$REG_DIR/$name.log" >&2 || true
    done
fi
exit "$status"
