# shellcheck shell=bash
# Shared set-up of the WMAIC shell library tests.
#
# Each test gets a fake root folder, $ROOT, holding the library at etc/profile.d/wmaic.sh; the
# library reads and writes its files under it because WMAIC_PREFIX points there. Helpers write
# the files the core would write (core.env, swarm/members.env) and scripts that load the library
# the way the manual's scripts do.

bats_require_minimum_version 1.5.0

LIB="$BATS_TEST_DIRNAME/../../wmaic/wmaic.sh"
FIXTURES="$BATS_TEST_DIRNAME/fixtures"

common_setup() {
    ROOT="$BATS_TEST_TMPDIR/root"
    mkdir -p "$ROOT/etc/wmaic" "$ROOT/etc/profile.d"
    cp "$LIB" "$ROOT/etc/profile.d/wmaic.sh"
    export ROOT WMAIC_PREFIX="$ROOT"
    # wmaic_wait_for_instances checks every 5 s on an instance; a fifth of a second here.
    export _WMAIC_POLL_SECONDS=0.2
    unset WMAIC_STAGE _WMAIC_BACKGROUND
}

# need_root: these tests change the network (namespaces, iptables). Without root they are
# skipped, except under CI, where that is a failure.
need_root() {
    if ((EUID != 0)); then
        if [[ -n ${CI:-} ]]; then
            fail "this test needs root (network namespaces, iptables)"
            return 1
        fi
        skip "needs root"
    fi
}

# need_cmd COMMAND...: skipped (failed under CI) when a command is missing.
need_cmd() {
    local c
    for c in "$@"; do
        if ! command -v "$c" >/dev/null 2>&1; then
            if [[ -n ${CI:-} ]]; then
                fail "this test needs $c (scripts/test-all installs it)"
                return 1
            fi
            skip "needs $c"
        fi
    done
}

fail() {
    printf '%s\n' "$*" >&2
    return 1
}

# assert_eq ACTUAL EXPECTED [WHAT]: both shown when they differ.
assert_eq() {
    if [[ "$1" != "$2" ]]; then
        printf '%s\n  expected: %q\n  actual:   %q\n' "${3:-values differ}" "$2" "$1" >&2
        return 1
    fi
}

# core_env LINE...: writes etc/wmaic/core.env, one line each (shell assignments).
core_env() {
    printf '%s\n' "$@" >"$ROOT/etc/wmaic/core.env"
}

# swarm NAME SIZE MEMBER...: writes etc/wmaic/swarm/members.env as the core does. A MEMBER is
# "id|address|tag tag..." (address may be empty: not known yet).
swarm() {
    local name=$1 size=$2 m ids="" ips="" tags=""
    shift 2
    for m in "$@"; do
        IFS='|' read -r id ip t <<<"$m"
        ids+=" '$id'"
        ips+=" '$ip'"
        tags+=" '$t'"
    done
    mkdir -p "$ROOT/etc/wmaic/swarm"
    {
        printf "WMAIC_SWARM_NAME='%s'\nWMAIC_SWARM_SIZE='%s'\n" "$name" "$size"
        printf '_WMAIC_MEMBER_IDS=(%s)\n_WMAIC_MEMBER_IPS=(%s)\n_WMAIC_MEMBER_TAGS=(%s)\n' "$ids" "$ips" "$tags"
    } >"$ROOT/etc/wmaic/swarm/members.env.tmp"
    mv -f "$ROOT/etc/wmaic/swarm/members.env.tmp" "$ROOT/etc/wmaic/swarm/members.env"
}

# in_lib CODE: runs CODE in bash with the library loaded (not from a script file).
in_lib() {
    bash -c 'source "$ROOT/etc/profile.d/wmaic.sh" || exit 99; '"$1"
}

# script NAME BODY: writes an executable script $BATS_TEST_TMPDIR/NAME that loads the library
# as the manual's scripts do, then runs BODY; prints its path.
script() {
    local path="$BATS_TEST_TMPDIR/$1"
    {
        printf '#!/bin/bash\n'
        printf 'if [ -f %q ];then\n    source %q\nelse\n' "$ROOT/etc/profile.d/wmaic.sh" "$ROOT/etc/profile.d/wmaic.sh"
        printf '    echo "WMAIC shell library not found, aborting!" 1>&2\n    exit 1\nfi\n'
        printf '%s\n' "$2"
    } >"$path"
    chmod +x "$path"
    printf '%s' "$path"
}

# manual_script FIXTURE: a copy of a script retyped from the manual, with its absolute paths
# (/etc/profile.d, /etc/my.cnf.d, /mnt, /tmp, /usr/local/wmaic) moved into $ROOT; prints its path.
manual_script() {
    local path="$BATS_TEST_TMPDIR/$1"
    # (Through a mark, so that $ROOT, itself in /tmp, is not moved again.)
    sed -e "s#/etc/profile.d/wmaic.sh#@ROOT@/etc/profile.d/wmaic.sh#g" \
        -e "s#/etc/my.cnf.d/#@ROOT@/etc/my.cnf.d/#g" \
        -e "s#/mnt/#@ROOT@/mnt/#g" \
        -e "s#/tmp/#@ROOT@/tmp/#g" \
        -e "s#/usr/local/wmaic/#@ROOT@/usr/local/wmaic/#g" \
        -e "s#@ROOT@#$ROOT#g" \
        "$FIXTURES/$1" >"$path"
    chmod +x "$path"
    printf '%s' "$path"
}

# wait_for_file FILE [SECONDS]: until FILE exists (default 10 s).
wait_for_file() {
    local i
    for ((i = 0; i < ${2:-10} * 20; i++)); do
        [[ -e $1 ]] && return 0
        sleep 0.05
    done
    fail "$1 did not appear within ${2:-10} s"
}
