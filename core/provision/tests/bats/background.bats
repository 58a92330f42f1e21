#!/usr/bin/env bats
# wmaic_run_in_background (manual 8.2.15).

# shellcheck disable=SC2016,SC2154 # code in single quotes runs in the library's shell; bats' run sets $stderr
load helpers

setup() {
    common_setup
    D="$BATS_TEST_TMPDIR/marks"
    mkdir -p "$D"
    # The rest of bg.sh runs detached: it reports who it is, then waits for "go".
    BG=$(script bg.sh 'wmaic_run_in_background
read -r -a stat </proc/$$/stat
echo "background pid=$$ session=${stat[5]} args=$(printf "[%s]" "$@") pwd=$PWD mark=${_WMAIC_BACKGROUND-unset} stdin=$(readlink /proc/$$/fd/0)"
echo $$ >"$1/pid"
while [ ! -e "$1/go" ]; do sleep 0.05; done
echo "still running after the session ended"
touch "$1/finished"')
}

teardown() {
    touch "$D/go"
    [[ ! -e $D/pid ]] || kill "$(cat "$D/pid")" 2>/dev/null || true
    [[ -z ${SESSION:-} ]] || kill -KILL -- "-$SESSION" 2>/dev/null || true
}

@test "the script goes on detached: own session, no terminal, same arguments and folder, survives the hang-up" {
    mkdir -p "$BATS_TEST_TMPDIR/start here"
    # An SSH session: its own session and process group, which the hang-up hits.
    (cd "$BATS_TEST_TMPDIR/start here" && exec setsid bash -c '"$1" "$2" "a b" "it'"'"'s"; echo "foreground exit $?" >"$2/fg"; exec sleep 60' \
        session "$BG" "$D") >"$D/fg.out" 2>&1 &
    SESSION=$!
    wait_for_file "$D/fg"
    wait_for_file "$D/pid"
    assert_eq "$(cat "$D/fg")" "foreground exit 0"
    local log
    log=$(sed -n 's/.*its output: //p' "$D/fg.out")
    [[ $log == "$ROOT/var/log/wmaic/bg.sh."*".log" ]]
    # The hang-up of the SSH session.
    kill -HUP -- "-$SESSION"
    sleep 0.5
    run kill -0 "$SESSION"
    [ "$status" -ne 0 ]
    kill -0 "$(cat "$D/pid")"
    touch "$D/go"
    wait_for_file "$D/finished"
    local pid
    pid=$(cat "$D/pid")
    grep -q "goes on in the background (process $pid)" "$D/fg.out"
    assert_eq "$(cat "$log")" "background pid=$pid session=$pid args=[$D][a b][it's] pwd=$BATS_TEST_TMPDIR/start here mark=unset stdin=/dev/null
still running after the session ended"
}

@test "a script the detached copy starts can go to the background in turn" {
    local child
    child=$(script child.sh 'wmaic_run_in_background
touch "$1/child-ran"')
    local parent
    parent=$(script parent.sh "wmaic_run_in_background
'$child' \"\$1\"
touch \"\$1/parent-ran\"")
    run "$parent" "$D"
    [ "$status" -eq 0 ]
    wait_for_file "$D/parent-ran"
    wait_for_file "$D/child-ran"
    grep -q "child.sh goes on in the background" "$ROOT"/var/log/wmaic/parent.sh.*.log
}

@test "the lock of wmaic_exclusive_run taken before stays with the detached copy only" {
    local path
    path=$(script locked.sh 'wmaic_exclusive_run || { echo "no lock in $$" >"$1/nolock"; exit 1; }
wmaic_run_in_background
wmaic_exclusive_run || { echo "no lock in $$" >"$1/nolock"; exit 1; }
touch "$1/locked"')
    run "$path" "$D"
    [ "$status" -eq 0 ]
    wait_for_file "$D/locked"
    [ ! -e "$D/nolock" ]
}

@test "outside a script file it returns 1 and the shell goes on" {
    run --separate-stderr in_lib 'wmaic_run_in_background; echo "still here $?"'
    assert_eq "$output" "still here 1"
    [[ $stderr == *"works only in a script file"* ]]
}

@test "without a usable log folder the log goes to TMPDIR" {
    mkdir -p "$ROOT/var/log"
    touch "$ROOT/var/log/wmaic"
    touch "$D/go"
    run env TMPDIR="$BATS_TEST_TMPDIR" "$BG" "$D"
    [ "$status" -eq 0 ]
    [[ $output == *"its output: $BATS_TEST_TMPDIR/bg.sh."*".log" ]]
    wait_for_file "$D/finished"
    grep -q "still running" "$BATS_TEST_TMPDIR"/bg.sh.*.log
}
