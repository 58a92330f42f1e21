#!/usr/bin/env bats
# wmaic_get_instances, wmaic_wait_for_instances, wmaic_register_for_swarm_updates,
# wmaic_is_tag_assigned, wmaic_is_swarm_member, wmaic_is_swarm_update_action,
# wmaic_get_current_stage (manual 8.2.5, 8.2.6, 8.2.10-8.2.14), and the swarm update the core
# runs.

# shellcheck disable=SC2016,SC2154 # code in single quotes runs in the library's shell; bats' run sets $stderr
load helpers

setup() {
    common_setup
    core_env "WMAIC_INSTANCE_ID='i-1'" "WMAIC_INSTANCE_TAGS=('zookeeper' 'nodejs')" "WMAIC_PRIVATE_IP4='10.0.0.1'"
}

# A swarm of five: this instance (i-1), three more with addresses, one still starting.
five() {
    swarm zk 5 "i-1|10.0.0.1|zookeeper nodejs" "i-2|10.0.0.2|zookeeper" "i-3|10.0.0.3|zookeeper nodejs" \
        "i-4|10.0.0.20|nodejs web" "i-5||nodejs"
}

@test "wmaic_is_tag_assigned: 0 for a tag of this instance, 1 for another, 2 without a tag" {
    run in_lib 'wmaic_is_tag_assigned zookeeper; echo $?; wmaic_is_tag_assigned zoo; echo $?
        wmaic_is_tag_assigned nginx; echo $?; wmaic_is_tag_assigned 2>/dev/null; echo $?; wmaic_is_tag_assigned a b 2>/dev/null; echo $?'
    assert_eq "$output" $'0\n1\n1\n2\n2'
}

@test "wmaic_is_swarm_member: 1 outside a swarm, 0 in one" {
    run in_lib 'wmaic_is_swarm_member; echo $?'
    assert_eq "$output" "1"
    five
    run in_lib 'wmaic_is_swarm_member; echo $?'
    assert_eq "$output" "0"
}

@test "wmaic_get_instances: the manual's two examples" {
    five
    run in_lib "wmaic_get_instances -i -t zookeeper -s ',' -p 'zk://' -x ':2181/api'"
    [ "$status" -eq 0 ]
    assert_eq "$output" "zk://10.0.0.1:2181/api,zk://10.0.0.2:2181/api,zk://10.0.0.3:2181/api"
    run in_lib "wmaic_get_instances -i -t nodejs -s '\n' -p 'server\s' -x ':3000;'"
    [ "$status" -eq 0 ]
    assert_eq "$output" $'server 10.0.0.1:3000;\nserver 10.0.0.3:3000;\nserver 10.0.0.20:3000;'
}

@test "wmaic_get_instances: others only without -i, a space by default, several tags mean any of them" {
    five
    run in_lib 'wmaic_get_instances'
    assert_eq "$output" "10.0.0.2 10.0.0.3 10.0.0.20"
    run in_lib 'wmaic_get_instances -t web,zookeeper'
    assert_eq "$output" "10.0.0.2 10.0.0.3 10.0.0.20"
    run in_lib 'wmaic_get_instances -t web'
    assert_eq "$output" "10.0.0.20"
    run in_lib "wmaic_get_instances -s '/t' -x '/n'"
    assert_eq "$output" $'10.0.0.2/n\t10.0.0.3/n\t10.0.0.20/n'
    run in_lib "wmaic_get_instances -t web -p 'a\\\\b\\t'"
    assert_eq "$output" $'a\\b\t10.0.0.20'
    # The manual's MySQL lookup: an array of host:port words.
    run in_lib 'DB_HOSTS=( $(wmaic_get_instances -t "zookeeper" -x ":3306") ); echo "${#DB_HOSTS[@]} ${DB_HOSTS[0]}"'
    assert_eq "$output" "2 10.0.0.2:3306"
}

@test "wmaic_get_instances: 1 and no output when none matches, 2 on a usage error" {
    five
    run --separate-stderr in_lib 'wmaic_get_instances -t mysql'
    [ "$status" -eq 1 ]
    assert_eq "$output" ""
    run --separate-stderr in_lib 'wmaic_get_instances -t "bad tag"'
    [ "$status" -eq 2 ]
    run --separate-stderr in_lib 'wmaic_get_instances -y'
    [ "$status" -eq 2 ]
    run --separate-stderr in_lib 'wmaic_get_instances -t'
    [ "$status" -eq 2 ]
}

@test "wmaic_get_instances outside a swarm: itself with -i (if the tags match), else nothing" {
    run in_lib 'wmaic_get_instances; echo "rc=$?"'
    assert_eq "$output" "rc=1"
    run in_lib 'wmaic_get_instances -i -x ":3000"'
    assert_eq "$output" "10.0.0.1:3000"
    run in_lib 'wmaic_get_instances -i -t nodejs'
    assert_eq "$output" "10.0.0.1"
    run in_lib 'wmaic_get_instances -i -t mysql; echo "rc=$?"'
    assert_eq "$output" "rc=1"
}

@test "wmaic_wait_for_instances returns at once outside a swarm and for a complete one" {
    SECONDS=0
    run in_lib 'wmaic_wait_for_instances'
    [ "$status" -eq 0 ]
    swarm s 2 "i-1|10.0.0.1|a" "i-2|10.0.0.2|b"
    run in_lib 'wmaic_wait_for_instances'
    [ "$status" -eq 0 ]
    ((SECONDS < 3))
}

@test "wmaic_wait_for_instances waits until every member is listed with an address; refresh_env shows them" {
    swarm s 3 "i-1|10.0.0.1|a" "i-2||b"
    (
        sleep 1
        swarm s 3 "i-1|10.0.0.1|a" "i-2|10.0.0.2|b"
        sleep 1
        swarm s 3 "i-1|10.0.0.1|a" "i-2|10.0.0.2|b" "i-3|10.0.0.3|c"
    ) &
    SECONDS=0
    run in_lib 'echo "before: ${WMAIC_SWARM_MEMBERS_EXT_IPS[*]}"; wmaic_wait_for_instances; echo "rc=$?"
        echo "not refreshed: ${WMAIC_SWARM_MEMBERS_EXT_IPS[*]}"; wmaic_refresh_env; echo "after: ${WMAIC_SWARM_MEMBERS_EXT_IPS[*]}"'
    wait
    ((SECONDS >= 2))
    assert_eq "$output" $'before: \nrc=0\nnot refreshed: \nafter: 10.0.0.2 10.0.0.3'
}

@test "wmaic_wait_for_instances -w gives up with 1; bad options return 2" {
    swarm s 3 "i-1|10.0.0.1|a"
    SECONDS=0
    run --separate-stderr in_lib 'wmaic_wait_for_instances -w 1'
    [ "$status" -eq 1 ]
    [[ $stderr == *"still incomplete after 1 seconds"* ]]
    ((SECONDS < 5))
    run in_lib 'wmaic_wait_for_instances -w soon 2>/dev/null'
    [ "$status" -eq 2 ]
    run in_lib 'wmaic_wait_for_instances now 2>/dev/null'
    [ "$status" -eq 2 ]
}

@test "stage: unset, post-data-transfer, swarm-update-action" {
    run in_lib 'wmaic_get_current_stage; echo "rc=$?"; wmaic_is_swarm_update_action; echo "update=$?"'
    assert_eq "$output" $'rc=1\nupdate=1'
    WMAIC_STAGE=post-data-transfer run in_lib 'wmaic_get_current_stage; echo "rc=$?"; wmaic_is_swarm_update_action; echo "update=$?"'
    assert_eq "$output" $'post-data-transfer\nrc=0\nupdate=1'
    WMAIC_STAGE=swarm-update-action run in_lib 'wmaic_get_current_stage; wmaic_is_swarm_update_action; echo "update=$?"'
    assert_eq "$output" $'swarm-update-action\nupdate=0'
}

@test "registered scripts run again on a swarm update: same folder, same arguments, the update stage" {
    five
    local first second
    first=$(script first.sh 'echo "$(wmaic_get_current_stage || echo initial) in $PWD: $# $(printf "[%s]" "$@") ${WMAIC_SWARM_MEMBERS_EXT_IPS[*]}" >>"$ROOT/first.log"
wmaic_is_swarm_update_action || wmaic_register_for_swarm_updates
echo "first says hello"')
    second=$(script second.sh 'echo "second $(wmaic_get_current_stage || echo initial)" >>"$ROOT/second.log"
wmaic_register_for_swarm_updates')
    mkdir -p "$BATS_TEST_TMPDIR/work dir"
    (cd "$BATS_TEST_TMPDIR/work dir" && WMAIC_STAGE=post-data-transfer "$first" -p "it's a \$x" '' $'two\nlines')
    "$second"
    "$second"
    [ "$(find "$ROOT/var/lib/wmaic/swarm-updates" -type f | wc -l)" -eq 2 ]

    # A member joins: the core rewrites the file, then runs the update.
    swarm zk 6 "i-1|10.0.0.1|zookeeper" "i-2|10.0.0.2|zookeeper" "i-6|10.0.0.6|new"
    run --separate-stderr in_lib '_wmaic_core_swarm_update'
    [ "$status" -eq 0 ]
    assert_eq "$output" "wmaic: swarm update: $first
first says hello
wmaic: swarm update: $second"
    assert_eq "$(cat "$ROOT/first.log")" "post-data-transfer in $BATS_TEST_TMPDIR/work dir: 4 [-p][it's a \$x][][two
lines] 10.0.0.2 10.0.0.3 10.0.0.20
swarm-update-action in $BATS_TEST_TMPDIR/work dir: 4 [-p][it's a \$x][][two
lines] 10.0.0.2 10.0.0.6"
    assert_eq "$(cat "$ROOT/second.log")" $'second initial\nsecond initial\nsecond swarm-update-action'
}

@test "a failing registered script fails the update, the others still run; a deleted one is skipped" {
    local bad good gone
    bad=$(script bad.sh 'wmaic_is_swarm_update_action && exit 3; wmaic_register_for_swarm_updates')
    gone=$(script gone.sh 'wmaic_register_for_swarm_updates')
    good=$(script good.sh 'wmaic_is_swarm_update_action && touch "$ROOT/good-ran"; wmaic_register_for_swarm_updates')
    "$bad" && "$gone" && "$good"
    rm "$gone"
    run --separate-stderr in_lib '_wmaic_core_swarm_update'
    [ "$status" -eq 1 ]
    [ -e "$ROOT/good-ran" ]
    [[ $stderr == *"$gone is gone, skipped"* ]]
    [[ $stderr == *"$bad failed"* ]]
}

@test "registering needs a script file; outside one it returns 1" {
    run --separate-stderr in_lib 'wmaic_register_for_swarm_updates'
    [ "$status" -eq 1 ]
    [[ $stderr == *"works only in a script file"* ]]
    run --separate-stderr bash -c "source '$ROOT/etc/profile.d/wmaic.sh'; wmaic_register_for_swarm_updates" <<<""
    [ "$status" -eq 1 ]
}
