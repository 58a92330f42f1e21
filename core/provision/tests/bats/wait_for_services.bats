#!/usr/bin/env bats
# wmaic_wait_for_services (manual 8.2.7): real TCP connections to listeners on loopback
# addresses (127.0.0.0/8 is all loopback on Linux, so members can have addresses of their own).

# shellcheck disable=SC2016,SC2154 # code in single quotes runs in the library's shell; bats' run sets $stderr
load helpers

setup() {
    common_setup
    need_cmd python3 timeout
    core_env "WMAIC_INSTANCE_ID='i-1'" "WMAIC_INSTANCE_TAGS=('app')" "WMAIC_PRIVATE_IP4='127.0.0.1'"
    PIDS=()
}

teardown() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [[ -z ${NS:-} ]] || ip netns del "$NS" 2>/dev/null || true
}

# listen NAME ADDRESS PORT...: starts a listener; its ports end up in $BATS_TEST_TMPDIR/NAME.
listen() {
    local name=$1
    shift
    python3 "$FIXTURES/listen.py" "$BATS_TEST_TMPDIR/$name" "$@" 3>&- &
    PIDS+=($!)
    wait_for_file "$BATS_TEST_TMPDIR/$name"
}

# A port nothing listens on.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

@test "an address with listening ports: returns 0 at the first try" {
    listen db 127.0.0.1 0 0
    local p1 p2
    { read -r p1 && read -r p2; } <"$BATS_TEST_TMPDIR/db"
    run --separate-stderr in_lib "wmaic_wait_for_services -n 127.0.0.1 -p $p1,$p2 -x 1 -v"
    [ "$status" -eq 0 ]
    [[ $stderr == *"127.0.0.1:$p1 answers"*"127.0.0.1:$p2 answers"* ]]
}

@test "a port that never answers ends the script after the tries, naming what is missing" {
    local port
    port=$(free_port)
    SECONDS=0
    run --separate-stderr "$(script wait.sh "wmaic_wait_for_services -n 127.0.0.1 -p $port -x 3 -X 1; echo not-reached")"
    [ "$status" -eq 1 ]
    assert_eq "$output" ""
    [[ $stderr == *"no service on 127.0.0.1:$port after 3 tries"* ]]
    ((SECONDS >= 2 && SECONDS < 10))
}

@test "a service that comes up later is waited for" {
    local port
    port=$(free_port)
    (sleep 2 && exec python3 "$FIXTURES/listen.py" "$BATS_TEST_TMPDIR/late" 127.0.0.1 "$port") 3>&- &
    PIDS+=($!)
    SECONDS=0
    run in_lib "wmaic_wait_for_services -n 127.0.0.1 -p $port -X 1 -w 1"
    [ "$status" -eq 0 ]
    ((SECONDS >= 2))
}

@test "port ranges: every port of the range must answer" {
    local p
    p=$(free_port)
    listen r 127.0.0.1 "$p"
    run in_lib "wmaic_wait_for_services -n 127.0.0.1 -p $p-$p -x 1"
    [ "$status" -eq 0 ]
    run --separate-stderr in_lib "wmaic_wait_for_services -n 127.0.0.1 -p $p-$((p + 1)) -x 1"
    [ "$status" -eq 1 ]
    [[ $stderr == *"127.0.0.1:$((p + 1))"* ]]
    [[ $stderr != *"127.0.0.1:$p "* ]]
}

@test "-t checks the members with the tag, -a all of them; this instance only with -i" {
    listen db 127.0.0.2 0
    local port
    port=$(cat "$BATS_TEST_TMPDIR/db")
    swarm s 3 "i-1|127.0.0.1|app" "i-2|127.0.0.2|mysql" "i-3|127.0.0.3|web"
    run in_lib "wmaic_wait_for_services -t mysql -p $port -x 1"
    [ "$status" -eq 0 ]
    # -a includes 127.0.0.3, where nothing listens.
    run --separate-stderr in_lib "wmaic_wait_for_services -a -p $port -x 1"
    [ "$status" -eq 1 ]
    [[ $stderr == *"no service on 127.0.0.3:$port after 1 tries" ]]
    # This instance (tag app) is checked on 127.0.0.1 only with -i.
    run in_lib "wmaic_wait_for_services -t app -p $port -x 1"
    [ "$status" -eq 0 ]
    run --separate-stderr in_lib "wmaic_wait_for_services -i -t app -p $port -x 1"
    [ "$status" -eq 1 ]
    [[ $stderr == *"127.0.0.1:$port"* ]]
    listen self 127.0.0.1 "$port"
    run in_lib "wmaic_wait_for_services -i -t app,mysql -p $port -x 1"
    [ "$status" -eq 0 ]
}

@test "outside a swarm there is no other instance to wait for (the manual's standalone WordPress)" {
    run --separate-stderr in_lib "wmaic_wait_for_services -w 5 -x 60 -X 10 -t mysql -p 3306 -v"
    [ "$status" -eq 0 ]
    [[ $stderr == *"nothing to wait for"* ]]
}

@test "-w bounds each connection attempt" {
    need_root
    need_cmd ip iptables
    NS="wmaic-svc-$$"
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    ip netns exec "$NS" iptables -A INPUT -p tcp --dport 4000 -j DROP
    SECONDS=0
    run --separate-stderr ip netns exec "$NS" bash -c "source '$ROOT/etc/profile.d/wmaic.sh'; wmaic_wait_for_services -n 127.0.0.1 -p 4000 -w 2 -x 1"
    [ "$status" -eq 1 ]
    ((SECONDS >= 2 && SECONDS < 6))
}

@test "usage errors end the script with 2" {
    local bad
    for bad in "-n 127.0.0.1" "-p 80" "-n 127.0.0.1 -p 70000" "-n 127.0.0.1 -p 80 -x 0" "-n 127.0.0.1 -p 80 -w 0" \
        "-n 127.0.0.1 -p 8-1" "-t 'a b' -p 80" "-n '1.2.3.4/x' -p 80" "-n 127.0.0.1 -p 80 extra" "-q -p 80"; do
        run --separate-stderr in_lib "wmaic_wait_for_services $bad; echo not-reached"
        [ "$status" -eq 2 ] || fail "$bad: status $status"
        assert_eq "$output" "" "$bad"
    done
}
