#!/usr/bin/env bats
# wmaic_parse_template (manual 8.2.2).

# shellcheck disable=SC2016,SC2154 # code in single quotes runs in the library's shell; bats' run sets $stderr
load helpers

setup() {
    common_setup
    T="$BATS_TEST_TMPDIR/in.tmpl"
    O="$BATS_TEST_TMPDIR/out.conf"
}

@test "replaces \${WMAIC_...} and \${WMAIU_...} and leaves everything else as it was" {
    core_env "WMAIC_PUBLIC_HOSTNAME='web.example.test'"
    cat >"$T" <<'EOF2'
upstream upservers {
        ${WMAIU_UPSTREAM_SERVERS}
}
server {
        server_name  ${WMAIC_PUBLIC_HOSTNAME};
        return 301 https://$host$request_uri;
        set $x ${OTHER} $WMAIU_NOBRACES ${WMAIU_NOT CLOSED $(date) `date` \n \\ ${WMAI
}
EOF2
    run in_lib 'export WMAIU_UPSTREAM_SERVERS=$(printf "server 10.0.0.20:3000;\nserver 10.0.0.21:3000;")
        WMAIU_NOBRACES=x OTHER=y wmaic_parse_template -i "'"$T"'" -o "'"$O"'"'
    [ "$status" -eq 0 ]
    cat >"$BATS_TEST_TMPDIR/want" <<'EOF2'
upstream upservers {
        server 10.0.0.20:3000;
server 10.0.0.21:3000;
}
server {
        server_name  web.example.test;
        return 301 https://$host$request_uri;
        set $x ${OTHER} $WMAIU_NOBRACES ${WMAIU_NOT CLOSED $(date) `date` \n \\ ${WMAI
}
EOF2
    diff -u "$BATS_TEST_TMPDIR/want" "$O"
}

@test "values are inserted as they are: quotes, backslashes, & and references are never expanded again" {
    printf 'a=${WMAIU_A}|b=${WMAIU_B}|c=${WMAIU_C}${WMAIU_C}\n' >"$T"
    run in_lib 'WMAIU_A="it'"'"'s \"q\" \\1 & \$HOME \`id\`"; WMAIU_B="\${WMAIU_A}"; WMAIU_C=$'"'"'x\ny'"'"'
        wmaic_parse_template -i "'"$T"'" -o "'"$O"'"'
    [ "$status" -eq 0 ]
    printf 'a=it'"'"'s "q" \\1 & $HOME `id`|b=${WMAIU_A}|c=x\nyx\ny\n' >"$BATS_TEST_TMPDIR/want"
    cmp "$BATS_TEST_TMPDIR/want" "$O"
}

@test "an unset variable becomes empty, an array its first element, as in the script itself" {
    printf '[${WMAIU_UNSET}] [${WMAIC_INSTANCE_TAGS}] [${WMAI}]' >"$T"
    core_env "WMAIC_INSTANCE_TAGS=('nginx' 'web')"
    run in_lib 'WMAI=short; wmaic_parse_template -i "'"$T"'" -o "'"$O"'"'
    [ "$status" -eq 0 ]
    assert_eq "$(cat "$O")" "[] [nginx] [short]"
}

@test "the file keeps its exact shape: no final newline, blank lines, CRLF, tabs, non-ASCII" {
    printf 'é ${WMAIU_X}\r\n\n\n\tlast line without newline ${WMAIU_X}' >"$T"
    run in_lib 'WMAIU_X="ü" wmaic_parse_template -i "'"$T"'" -o "'"$O"'"'
    [ "$status" -eq 0 ]
    printf 'é ü\r\n\n\n\tlast line without newline ü' >"$BATS_TEST_TMPDIR/want"
    cmp "$BATS_TEST_TMPDIR/want" "$O"
}

@test "an existing output needs -f; -b keeps a copy with the _BKP postfix, -B chooses another" {
    printf 'new ${WMAIU_V}\n' >"$T"
    echo old >"$O"
    run --separate-stderr in_lib 'WMAIU_V=1 wmaic_parse_template -i "'"$T"'" -o "'"$O"'"'
    [ "$status" -eq 1 ]
    [[ $stderr == *"exists (use -f to overwrite it)"* ]]
    assert_eq "$(cat "$O")" "old"

    run in_lib 'WMAIU_V=1 wmaic_parse_template -f -i "'"$T"'" -o "'"$O"'"'
    [ "$status" -eq 0 ]
    assert_eq "$(cat "$O")" "new 1"
    [ ! -e "${O}_BKP" ]

    run in_lib 'WMAIU_V=2 wmaic_parse_template -f -b -i "'"$T"'" -o "'"$O"'"'
    [ "$status" -eq 0 ]
    assert_eq "$(cat "$O")" "new 2"
    assert_eq "$(cat "${O}_BKP")" "new 1"

    run in_lib 'WMAIU_V=3 wmaic_parse_template -f -b -B .orig -i "'"$T"'" -o "'"$O"'"'
    [ "$status" -eq 0 ]
    assert_eq "$(cat "$O")" "new 3"
    assert_eq "$(cat "$O.orig")" "new 2"
    assert_eq "$(cat "${O}_BKP")" "new 1"
}

@test "a new output gets the umask's mode; a replaced one keeps its mode; a link is written through" {
    echo 'x' >"$T"
    run in_lib 'umask 027; wmaic_parse_template -i "'"$T"'" -o "'"$O"'"'
    [ "$status" -eq 0 ]
    assert_eq "$(stat -c %a "$O")" "640"
    chmod 600 "$O"
    run in_lib 'umask 022; wmaic_parse_template -f -i "'"$T"'" -o "'"$O"'"'
    assert_eq "$(stat -c %a "$O")" "600"

    ln -s "$O" "$BATS_TEST_TMPDIR/link.conf"
    echo 'through the link' >"$T"
    run in_lib 'wmaic_parse_template -f -i "'"$T"'" -o "'"$BATS_TEST_TMPDIR/link.conf"'"'
    [ "$status" -eq 0 ]
    [ -L "$BATS_TEST_TMPDIR/link.conf" ]
    assert_eq "$(cat "$O")" "through the link"
    # Nothing left behind in the folder.
    run find "$BATS_TEST_TMPDIR" -maxdepth 1 -name '.wmaic-template.*'
    assert_eq "$output" ""
}

@test "usage errors return 2, unreadable input and missing folders 1" {
    echo x >"$T"
    run in_lib 'wmaic_parse_template -o "'"$O"'"'
    [ "$status" -eq 2 ]
    run in_lib 'wmaic_parse_template -i "'"$T"'"'
    [ "$status" -eq 2 ]
    run in_lib 'wmaic_parse_template -i "'"$T"'" -o "'"$O"'" -q'
    [ "$status" -eq 2 ]
    run in_lib 'wmaic_parse_template -i "'"$T"'" -o "'"$O"'" extra'
    [ "$status" -eq 2 ]
    run in_lib 'wmaic_parse_template -i "'"$T"'.missing" -o "'"$O"'"'
    [ "$status" -eq 1 ]
    run in_lib 'wmaic_parse_template -i "'"$T"'" -o "'"$BATS_TEST_TMPDIR"'/no/such/dir/out"'
    [ "$status" -eq 1 ]
    run in_lib 'wmaic_parse_template -f -i "'"$T"'" -o "'"$BATS_TEST_TMPDIR"'"'
    [ "$status" -eq 1 ]
    [ ! -e "$O" ]
}

@test "the script's own getopts state is untouched" {
    echo '${WMAIU_A}' >"$T"
    local path
    path=$(script opts.sh 'while getopts "a:b" o; do :; done
WMAIU_A=v wmaic_parse_template -i "$1" -o "$2"
echo "OPTIND=$OPTIND"
while getopts "a:b" o; do echo "again $o"; done')
    run "$path" "$T" "$O" -b
    [ "$status" -eq 0 ]
    assert_eq "$output" "OPTIND=1"
    assert_eq "$(cat "$O")" "v"
}

@test "a large template is done in reasonable time" {
    awk 'BEGIN { for (i = 0; i < 20000; i++) printf "line %d ${WMAIU_A} and ${WMAIC_HOSTNAME} $plain\n", i }' >"$T"
    SECONDS=0
    run in_lib 'WMAIU_A=value wmaic_parse_template -i "'"$T"'" -o "'"$O"'"'
    [ "$status" -eq 0 ]
    ((SECONDS < 10))
    assert_eq "$(wc -l <"$O")" "20000"
    assert_eq "$(sed -n 1235p "$O")" "line 1234 value and $(hostname -s) \$plain"
}
