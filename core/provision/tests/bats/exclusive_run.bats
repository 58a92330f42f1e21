#!/usr/bin/env bats
# wmaic_exclusive_run and wmaic_release_exclusive_run (manual 8.2.3, 8.2.4).

# shellcheck disable=SC2016,SC2154 # code in single quotes runs in the library's shell; bats' run sets $stderr
load helpers

setup() {
    common_setup
    D="$BATS_TEST_TMPDIR/marks"
    mkdir -p "$D"
    # holder.sh: takes the lock, says so, and keeps it until the file "go" appears; then,
    # unless told to exit without releasing, releases it and waits for "done".
    HOLDER=$(script holder.sh 'wmaic_exclusive_run || exit 7
touch "$1/holding"
while [ ! -e "$1/go" ]; do sleep 0.05; done
[ "${2:-}" = crash ] && exit 0
[ "${2:-}" = child ] && { sleep 30 & echo $! >"$1/child"; }
wmaic_release_exclusive_run
touch "$1/released"
while [ ! -e "$1/done" ]; do sleep 0.05; done')
}

teardown() {
    touch "$D/go" "$D/done"
    [[ ! -e $D/child ]] || kill "$(cat "$D/child")" 2>/dev/null || true
    wait 2>/dev/null || true
}

@test "the first copy gets the lock; a second copy of the same script gets 1 while it is held" {
    "$HOLDER" "$D" &
    wait_for_file "$D/holding"
    run --separate-stderr "$HOLDER" "$D/other"
    [ "$status" -eq 7 ]
    # The manual's way of using it.
    run --separate-stderr "$(script user.sh 'if ! wmaic_exclusive_run; then eXit "another copy of this script seems to run"; fi; echo ran')"
    [ "$status" -eq 0 ]
    assert_eq "$output" "ran"
}

@test "-x ends the script when another copy holds the lock" {
    cp "$HOLDER" "$BATS_TEST_TMPDIR/x.sh"
    sed -i 's/^wmaic_exclusive_run || exit 7$/wmaic_exclusive_run -x; echo "not reached"/' "$BATS_TEST_TMPDIR/x.sh"
    "$BATS_TEST_TMPDIR/x.sh" "$D" &
    wait_for_file "$D/holding"
    run --separate-stderr "$BATS_TEST_TMPDIR/x.sh" "$D/other"
    [ "$status" -eq 1 ]
    assert_eq "$output" ""
    [[ $stderr == "another copy of $BATS_TEST_TMPDIR/x.sh is running" ]]
}

@test "-w waits until the other copy releases the lock, then goes on" {
    cp "$HOLDER" "$BATS_TEST_TMPDIR/w.sh"
    sed -i 's/^wmaic_exclusive_run || exit 7$/wmaic_exclusive_run -w || exit 7/' "$BATS_TEST_TMPDIR/w.sh"
    "$BATS_TEST_TMPDIR/w.sh" "$D" &
    wait_for_file "$D/holding"
    mkdir "$D/second"
    touch "$D/second/go" "$D/second/done"
    "$BATS_TEST_TMPDIR/w.sh" "$D/second" &
    local waiter=$!
    sleep 1
    [ ! -e "$D/second/holding" ]
    touch "$D/go"
    wait_for_file "$D/second/holding"
    [ -e "$D/released" ]
    wait "$waiter"
}

@test "the lock is gone when the holder ends without releasing it" {
    "$HOLDER" "$D" crash &
    wait_for_file "$D/holding"
    touch "$D/go"
    wait
    mkdir "$D/again"
    touch "$D/again/go" "$D/again/done"
    run "$HOLDER" "$D/again"
    [ "$status" -eq 0 ]
}

@test "releasing frees the lock even when a process the script started still has it open" {
    "$HOLDER" "$D" child &
    wait_for_file "$D/holding"
    touch "$D/go"
    wait_for_file "$D/released"
    kill -0 "$(cat "$D/child")"
    mkdir "$D/again"
    touch "$D/again/go" "$D/again/done"
    run "$HOLDER" "$D/again"
    [ "$status" -eq 0 ]
}

@test "other scripts, and a script of the same name in another folder, have locks of their own" {
    "$HOLDER" "$D" &
    wait_for_file "$D/holding"
    run "$(script other.sh 'wmaic_exclusive_run && echo got-it')"
    assert_eq "$output" "got-it"
    mkdir -p "$BATS_TEST_TMPDIR/elsewhere"
    cp "$HOLDER" "$BATS_TEST_TMPDIR/elsewhere/holder.sh"
    mkdir "$D/b"
    touch "$D/b/go" "$D/b/done"
    run "$BATS_TEST_TMPDIR/elsewhere/holder.sh" "$D/b"
    [ "$status" -eq 0 ]
}

@test "taking the lock twice in one script is fine, releasing without it too; options are checked" {
    run "$(script twice.sh 'wmaic_release_exclusive_run; echo r=$?; wmaic_exclusive_run; echo a=$?; wmaic_exclusive_run; echo b=$?
wmaic_release_exclusive_run; echo c=$?; wmaic_release_exclusive_run; echo d=$?; wmaic_exclusive_run -q; echo e=$?')"
    assert_eq "$output" $'r=0\na=0\nb=0\nc=0\nd=0\nwmaic: wmaic_exclusive_run: unknown option -q\ne=2'
}

@test "outside a script file there is nothing to lock: status 2" {
    run --separate-stderr in_lib 'wmaic_exclusive_run'
    [ "$status" -eq 2 ]
    [[ $stderr == *"works only in a script file"* ]]
}
