#!/usr/bin/env bats
# wmaic_cloak_instance and wmaic_open_port (manual 8.2.8, 8.2.9), with real iptables rules and
# real connections: the "instance" is a network namespace (10.200.0.1) and its peers are another
# namespace holding two addresses (10.200.0.2 and 10.200.0.3).

# shellcheck disable=SC2016,SC2154 # code in single quotes runs in the library's shell; bats' run sets $stderr
load helpers

setup() {
    common_setup
    need_root
    need_cmd ip iptables ip6tables python3
    INST="wmaic-fw-i-$$-$BATS_TEST_NUMBER"
    PEER="wmaic-fw-p-$$-$BATS_TEST_NUMBER"
    ip netns add "$INST"
    ip netns add "$PEER"
    ip -n "$INST" link set lo up
    ip -n "$PEER" link set lo up
    ip link add "wmfw$BATS_TEST_NUMBER" netns "$INST" type veth peer name "wmfp$BATS_TEST_NUMBER" netns "$PEER"
    ip -n "$INST" addr add 10.200.0.1/24 dev "wmfw$BATS_TEST_NUMBER"
    ip -n "$PEER" addr add 10.200.0.2/24 dev "wmfp$BATS_TEST_NUMBER"
    ip -n "$PEER" addr add 10.200.0.3/24 dev "wmfp$BATS_TEST_NUMBER"
    ip -n "$INST" link set "wmfw$BATS_TEST_NUMBER" up
    ip -n "$PEER" link set "wmfp$BATS_TEST_NUMBER" up
    PIDS=()
    ip netns exec "$INST" python3 "$FIXTURES/listen.py" "$BATS_TEST_TMPDIR/inst" 0.0.0.0 22 2222 8080 9000 9001 3>&- &
    PIDS+=($!)
    ip netns exec "$PEER" python3 "$FIXTURES/listen.py" "$BATS_TEST_TMPDIR/peer" 0.0.0.0 7000 3>&- &
    PIDS+=($!)
    wait_for_file "$BATS_TEST_TMPDIR/inst"
    wait_for_file "$BATS_TEST_TMPDIR/peer"
    core_env "WMAIC_INSTANCE_ID='i-1'" "WMAIC_INSTANCE_TAGS=('web')" "WMAIC_PRIVATE_IP4='10.200.0.1'"
}

teardown() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    ip netns del "${INST:-none}" 2>/dev/null || true
    ip netns del "${PEER:-none}" 2>/dev/null || true
}

# on_instance CODE: CODE with the library loaded, in the instance's namespace.
on_instance() {
    ip netns exec "$INST" bash -c 'source "$ROOT/etc/profile.d/wmaic.sh" || exit 99; '"$1"
}

# open_ports SOURCE: which of the instance's ports 22 2222 8080 9000 9001 SOURCE (10.200.0.2 or
# .3) can connect to.
open_ports() {
    ip netns exec "$PEER" python3 "$FIXTURES/connect.py" "$1" 10.200.0.1 22 2222 8080 9000 9001 || true
}

@test "the cloak lets in SSH, loopback and answers to outgoing connections, and drops the rest" {
    assert_eq "$(open_ports 10.200.0.2)" "22 2222 8080 9000 9001"
    run on_instance 'wmaic_cloak_instance'
    [ "$status" -eq 0 ]
    assert_eq "$(open_ports 10.200.0.2)" "22"
    # Loopback, and the instance's own connections out.
    ip netns exec "$INST" python3 "$FIXTURES/connect.py" 127.0.0.1 127.0.0.1 8080 >/dev/null
    ip netns exec "$INST" python3 "$FIXTURES/connect.py" 10.200.0.1 10.200.0.2 7000 >/dev/null
    # The same for IPv6.
    run ip netns exec "$INST" ip6tables -S WMAIC_CLOAK
    [[ $output == *"-A WMAIC_CLOAK -p tcp -m tcp --dport 22 -j ACCEPT"*"-A WMAIC_CLOAK -j DROP"* ]]
}

@test "wmaic_open_port opens ports for everyone, or with -a for some addresses only" {
    on_instance 'wmaic_cloak_instance'
    run on_instance 'wmaic_open_port -p 8080'
    [ "$status" -eq 0 ]
    assert_eq "$(open_ports 10.200.0.2)" "22 8080"
    run on_instance 'wmaic_open_port -p 9000-9001 -a 10.200.0.3'
    [ "$status" -eq 0 ]
    assert_eq "$(open_ports 10.200.0.2)" "22 8080"
    assert_eq "$(open_ports 10.200.0.3)" "22 8080 9000 9001"
    # Twice is harmless: no duplicate rule.
    on_instance 'wmaic_open_port -p 8080; wmaic_open_port -p 8080'
    assert_eq "$(ip netns exec "$INST" iptables -S WMAIC_PORTS | grep -c -- '--dport 8080 ')" "1"
    # UDP.
    on_instance 'wmaic_open_port -u -p 53,5353'
    ip netns exec "$INST" iptables -S WMAIC_PORTS | grep -q -- '-A WMAIC_PORTS -p udp -m udp --dport 5353 -j ACCEPT'
    ip netns exec "$INST" ip6tables -S WMAIC_PORTS | grep -q -- '-A WMAIC_PORTS -p udp -m udp --dport 53 -j ACCEPT'
}

@test "-i lets in whole addresses and ranges" {
    run on_instance 'wmaic_cloak_instance -i 10.200.0.2'
    [ "$status" -eq 0 ]
    assert_eq "$(open_ports 10.200.0.2)" "22 2222 8080 9000 9001"
    assert_eq "$(open_ports 10.200.0.3)" "22"
    run on_instance 'wmaic_cloak_instance -i 10.200.0.0/30'
    assert_eq "$(open_ports 10.200.0.3)" "22 2222 8080 9000 9001"
}

@test "-s lets in the other swarm members, -t the members with a tag; outside a swarm -s adds nobody" {
    run on_instance 'wmaic_cloak_instance -s'
    [ "$status" -eq 0 ]
    assert_eq "$(open_ports 10.200.0.2)" "22"
    swarm s 3 "i-1|10.200.0.1|web" "i-2|10.200.0.2|db" "i-3|10.200.0.3|cache"
    run on_instance 'wmaic_cloak_instance -s'
    assert_eq "$(open_ports 10.200.0.2)" "22 2222 8080 9000 9001"
    assert_eq "$(open_ports 10.200.0.3)" "22 2222 8080 9000 9001"
    run on_instance 'wmaic_cloak_instance -t cache'
    assert_eq "$(open_ports 10.200.0.2)" "22"
    assert_eq "$(open_ports 10.200.0.3)" "22 2222 8080 9000 9001"
}

@test "cloaking again replaces the allowed sources but keeps the open ports; one hook in INPUT" {
    on_instance 'wmaic_cloak_instance -i 10.200.0.2; wmaic_open_port -p 9000'
    assert_eq "$(open_ports 10.200.0.2)" "22 2222 8080 9000 9001"
    on_instance 'wmaic_cloak_instance'
    assert_eq "$(open_ports 10.200.0.2)" "22 9000"
    assert_eq "$(ip netns exec "$INST" iptables -S INPUT | grep -c WMAIC_CLOAK)" "1"
    assert_eq "$(ip netns exec "$INST" iptables -S INPUT | sed -n 2p)" "-A INPUT -j WMAIC_CLOAK"
}

@test "the port of the core's SSH session stays open too" {
    SSH_CONNECTION="10.200.0.9 50000 10.200.0.1 2222" run on_instance 'wmaic_cloak_instance'
    [ "$status" -eq 0 ]
    assert_eq "$(open_ports 10.200.0.2)" "22 2222"
}

@test "a swarm update or a reboot applies the recorded cloak again, with the current members" {
    swarm s 2 "i-1|10.200.0.1|web" "i-2|10.200.0.2|db"
    on_instance 'wmaic_cloak_instance -s; wmaic_open_port -p 9000 -a 10.200.0.3; wmaic_open_port -u -p 5353'
    assert_eq "$(cat "$ROOT/var/lib/wmaic/firewall/cloak")" "-s"
    assert_eq "$(cat "$ROOT/var/lib/wmaic/firewall/ports")" $'-p 9000 -a 10.200.0.3\n-u -p 5353'
    local before
    before=$(ip netns exec "$INST" iptables -S)
    # A reboot: the rules are gone.
    ip netns exec "$INST" iptables -D INPUT -j WMAIC_CLOAK
    ip netns exec "$INST" iptables -F
    ip netns exec "$INST" iptables -X
    assert_eq "$(open_ports 10.200.0.3)" "22 2222 8080 9000 9001"
    run on_instance '_wmaic_core_firewall_restore'
    [ "$status" -eq 0 ]
    assert_eq "$(ip netns exec "$INST" iptables -S)" "$before"
    # A swarm update: 10.200.0.3 joined.
    swarm s 3 "i-1|10.200.0.1|web" "i-2|10.200.0.2|db" "i-3|10.200.0.3|db"
    assert_eq "$(open_ports 10.200.0.3)" "22 9000"
    run on_instance '_wmaic_core_swarm_update'
    [ "$status" -eq 0 ]
    assert_eq "$(open_ports 10.200.0.3)" "22 2222 8080 9000 9001"
}

@test "wmaic_open_port before the cloak fails with 1; bad arguments give 2; not root gives 1" {
    run --separate-stderr on_instance 'wmaic_open_port -p 80'
    [ "$status" -eq 1 ]
    [[ $stderr == *"call wmaic_cloak_instance first"* ]]
    local bad
    for bad in "wmaic_open_port" "wmaic_open_port -p 0" "wmaic_open_port -p http" "wmaic_open_port -p 80 -a host" \
        "wmaic_cloak_instance -i 300.x" "wmaic_cloak_instance -t 'a b'" "wmaic_cloak_instance -z"; do
        run on_instance "$bad 2>/dev/null"
        [ "$status" -eq 2 ] || fail "$bad: status $status"
    done
    # (The library comes on stdin: the test's folders are not open to that user.)
    run --separate-stderr ip netns exec "$INST" setpriv --reuid=65534 --regid=65534 --clear-groups \
        bash -c "source /dev/stdin; wmaic_cloak_instance" <"$LIB"
    [ "$status" -eq 1 ]
    [[ $stderr == *"needs root"* ]]
    assert_eq "$(open_ports 10.200.0.2)" "22 2222 8080 9000 9001"
}
