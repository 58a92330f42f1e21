#!/usr/bin/env bats
# eXit (manual 8.2.1).

# shellcheck disable=SC2016,SC2154 # code in single quotes runs in the library's shell; bats' run sets $stderr
load helpers

setup() {
    common_setup
}

@test "eXit prints its reason on stderr and ends the script with a non-zero status" {
    local path
    path=$(script exit.sh 'mkdir /nonexistent-wmaic/test || eXit "failed to create directory: /nonexistent-wmaic/test"
echo "not reached"')
    run --separate-stderr "$path"
    [ "$status" -eq 1 ]
    assert_eq "$output" ""
    [[ $stderr == *"failed to create directory: /nonexistent-wmaic/test" ]]
}

@test "eXit without a reason prints nothing and still fails" {
    local path
    path=$(script exit.sh 'eXit
echo "not reached"')
    run --separate-stderr "$path"
    [ "$status" -eq 1 ]
    assert_eq "$output" ""
    assert_eq "$stderr" ""
}

@test "eXit joins several words into one reason line" {
    run --separate-stderr in_lib 'eXit "step" two three'
    [ "$status" -eq 1 ]
    assert_eq "$stderr" "step two three"
}
