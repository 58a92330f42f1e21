#!/usr/bin/env bats
# The variables of the manual's appendix 8.1, and how the library behaves when it is loaded.

# shellcheck disable=SC2016,SC2154 # code in single quotes runs in the library's shell; bats' run sets $stderr
load helpers

setup() {
    common_setup
}

teardown() {
    [[ -z ${NS:-} ]] || ip netns del "$NS" 2>/dev/null || true
}

@test "loading prints nothing and leaves the script's options, arguments, OPTIND and IFS alone" {
    local path
    path=$(script load.sh '')
    cat >"$path" <<EOF2
#!/bin/bash
set -euo pipefail
set -- one "two words"
OPTIND=3
IFS=,
before="\$- \$(shopt -p | md5sum) \$(set -o | md5sum)"
source "$ROOT/etc/profile.d/wmaic.sh"
after="\$- \$(shopt -p | md5sum) \$(set -o | md5sum)"
[ "\$before" = "\$after" ] || { echo "options changed: \$before / \$after"; exit 1; }
printf '%s|' "\$@" "\$OPTIND" "\$IFS"
EOF2
    run --separate-stderr "$path"
    [ "$status" -eq 0 ]
    assert_eq "$output" "one|two words|3|,|"
    assert_eq "$stderr" ""
}

@test "functions work under set -euo pipefail and with a strange IFS" {
    core_env "WMAIC_INSTANCE_TAGS=('web' 'db')" "WMAIC_PRIVATE_IP4='10.9.8.7'"
    run in_lib 'set -euo pipefail; IFS=:; wmaic_refresh_env; wmaic_is_tag_assigned db; wmaic_get_instances -i -t web -s , ; wmaic_get_current_stage || echo no-stage'
    [ "$status" -eq 0 ]
    assert_eq "$output" $'10.9.8.7\nno-stage'
}

@test "other shells skip the library without a word" {
    need_cmd dash
    run dash -c ". '$ROOT/etc/profile.d/wmaic.sh'; echo still-here"
    [ "$status" -eq 0 ]
    assert_eq "$output" "still-here"
    run bash --posix -c ". '$ROOT/etc/profile.d/wmaic.sh'; echo still-here"
    [ "$status" -eq 0 ]
    assert_eq "$output" "still-here"
}

@test "the core's values arrive exactly, whatever characters they hold" {
    core_env \
        "WMAIC_INSTANCE_ID='i-a754e31b'" \
        "WMAIC_INSTANCE_NAME='deb8@FFM \$(touch $ROOT/pwned) \`id\` '\\''q'\\'' \"dq\"'" \
        "WMAIC_INSTANCE_INDEX='3'" \
        "WMAIC_INSTANCE_TYPE='t2.small'" \
        "WMAIC_INSTANCE_TAGS=('nginx' 'web')" \
        "WMAIC_IMAGE_ID='ami-02724d1f'" \
        "WMAIC_CLOUD='aws'" \
        "WMAIC_REGION='eu-central-1'" \
        "WMAIC_AVAILABILITY_ZONE='eu-central-1b'" \
        "WMAIC_PUBLIC_HOSTNAME='ec2-52-29-219-165.eu-central-1.compute.amazonaws.com'" \
        "WMAIC_PUBLIC_IP4='52.29.219.165'" \
        "WMAIC_PRIVATE_IP4='172.31.2.57'" \
        "WMAIC_CREATED='201503150822'" \
        "WMAIC_PATCHED='201512071606'" \
        "WMAIC_REBOOTED='201503150840'" \
        "WMAIC_REBOOT_REQUIRED='True'" \
        "WMAIC_DEBUG='False'" \
        "WMAIC_OWNER='bob123'" \
        "WMAIC_LOGIN_USER='admin'" \
        "WMAIC_USERS=('bob' 'alice')" \
        "WMAIC_STORAGE_MOUNT='/mnt/data'" \
        "WMAIC_STORAGE_ENCRYPTED='True'" \
        "WMAIC_DATA_DESTINATION='/mnt/data/in'"
    run in_lib 'for v in WMAIC_INSTANCE_ID WMAIC_INSTANCE_NAME WMAIC_INSTANCE_INDEX WMAIC_INSTANCE_TYPE WMAIC_IMAGE_ID \
        WMAIC_CLOUD WMAIC_REGION WMAIC_AVAILABILITY_ZONE WMAIC_PUBLIC_HOSTNAME WMAIC_PUBLIC_IP4 WMAIC_PRIVATE_IP4 \
        WMAIC_CREATED WMAIC_PATCHED WMAIC_REBOOTED WMAIC_REBOOT_REQUIRED WMAIC_DEBUG WMAIC_OWNER WMAIC_LOGIN_USER \
        WMAIC_STORAGE_MOUNT WMAIC_STORAGE_ENCRYPTED WMAIC_DATA_DESTINATION; do printf "%s=%s\n" "$v" "${!v}"; done
        printf "tags=%s\n" "${WMAIC_INSTANCE_TAGS[@]}"; printf "users=%s\n" "${WMAIC_USERS[@]}"'
    [ "$status" -eq 0 ]
    [ ! -e "$ROOT/pwned" ]
    assert_eq "$output" "WMAIC_INSTANCE_ID=i-a754e31b
WMAIC_INSTANCE_NAME=deb8@FFM \$(touch $ROOT/pwned) \`id\` 'q' \"dq\"
WMAIC_INSTANCE_INDEX=3
WMAIC_INSTANCE_TYPE=t2.small
WMAIC_IMAGE_ID=ami-02724d1f
WMAIC_CLOUD=aws
WMAIC_REGION=eu-central-1
WMAIC_AVAILABILITY_ZONE=eu-central-1b
WMAIC_PUBLIC_HOSTNAME=ec2-52-29-219-165.eu-central-1.compute.amazonaws.com
WMAIC_PUBLIC_IP4=52.29.219.165
WMAIC_PRIVATE_IP4=172.31.2.57
WMAIC_CREATED=201503150822
WMAIC_PATCHED=201512071606
WMAIC_REBOOTED=201503150840
WMAIC_REBOOT_REQUIRED=True
WMAIC_DEBUG=False
WMAIC_OWNER=bob123
WMAIC_LOGIN_USER=admin
WMAIC_STORAGE_MOUNT=/mnt/data
WMAIC_STORAGE_ENCRYPTED=True
WMAIC_DATA_DESTINATION=/mnt/data/in
tags=nginx
tags=web
users=bob
users=alice"
}

@test "without core.env every core variable is still defined, yes/no ones as False" {
    run in_lib 'set -u; printf "%s|" "$WMAIC_INSTANCE_ID" "$WMAIC_REBOOT_REQUIRED" "$WMAIC_DEBUG" \
        "$WMAIC_STORAGE_ENCRYPTED" "${#WMAIC_INSTANCE_TAGS[@]}" "${#WMAIC_USERS[@]}" "$WMAIC_SECRET"'
    [ "$status" -eq 0 ]
    assert_eq "$output" "|False|False|False|0|0||"
}

@test "what the instance tells about itself: kernel, architecture, processors, memory, host names, system id" {
    local mem swap
    mem=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) * 1024))
    swap=$(($(awk '/^SwapTotal:/ {print $2}' /proc/meminfo) * 1024))
    run in_lib 'printf "%s\n" "$WMAIC_OS" "$WMAIC_KERNEL" "$WMAIC_KERNEL_RELEASE" "$WMAIC_KERNEL_VERSION" \
        "$WMAIC_KERNEL_MAJOR" "$WMAIC_KERNEL_MINOR" "$WMAIC_ARCHITECTURE" "$WMAIC_PROCESSOR_COUNT" \
        "$WMAIC_MEM_AVAILABLE" "$WMAIC_SWAP_AVAILABLE" "$WMAIC_HOSTNAME" "$WMAIC_FQDN" "$WMAIC_SYSTEM_ID"'
    [ "$status" -eq 0 ]
    local release version
    release=$(uname -r)
    version=$(grep -oE '^[0-9]+\.[0-9]+(\.[0-9]+)?' <<<"$release")
    assert_eq "${lines[0]}" "Linux" WMAIC_OS
    assert_eq "${lines[1]}" "$(uname -s)" WMAIC_KERNEL
    assert_eq "${lines[2]}" "$release" WMAIC_KERNEL_RELEASE
    assert_eq "${lines[3]}" "$version" WMAIC_KERNEL_VERSION
    assert_eq "${lines[4]}" "${version%%.*}" WMAIC_KERNEL_MAJOR
    assert_eq "${lines[5]}" "$(cut -d. -f2 <<<"$version")" WMAIC_KERNEL_MINOR
    assert_eq "${lines[6]}" "$(uname -m)" WMAIC_ARCHITECTURE
    assert_eq "${lines[7]}" "$(nproc)" WMAIC_PROCESSOR_COUNT
    assert_eq "${lines[8]}" "$mem" WMAIC_MEM_AVAILABLE
    assert_eq "${lines[9]}" "$swap" WMAIC_SWAP_AVAILABLE
    assert_eq "${lines[10]}" "$(hostname -s)" WMAIC_HOSTNAME
    [[ ${lines[11]} == "${lines[10]}" || ${lines[11]} == "${lines[10]}".* ]]
    assert_eq "${lines[12]}" "$(hostid)" WMAIC_SYSTEM_ID
}

@test "host name, domain and full name in a UTS namespace of our own" {
    need_root
    run unshare --uts bash -c 'hostname ip-172-31-2-57.eu-central-1.compute.internal;
        source "$ROOT/etc/profile.d/wmaic.sh"; printf "%s\n" "$WMAIC_HOSTNAME" "$WMAIC_DOMAIN" "$WMAIC_FQDN"'
    [ "$status" -eq 0 ]
    assert_eq "$output" "ip-172-31-2-57
eu-central-1.compute.internal
ip-172-31-2-57.eu-central-1.compute.internal"
}

# os_release FILE-CONTENT [DEBIAN_VERSION]: prints distro|family|major|minor for that os-release.
os_release() {
    rm -f "$ROOT/etc/debian_version"
    printf '%s\n' "$1" >"$ROOT/etc/os-release"
    [[ -z ${2:-} ]] || printf '%s\n' "$2" >"$ROOT/etc/debian_version"
    in_lib 'printf "%s|%s|%s|%s\n" "$WMAIC_OS_DISTRO" "$WMAIC_OS_FAMILY" "$WMAIC_OS_MAJOR_REL" "$WMAIC_OS_MINOR_REL"'
}

@test "distribution, family and release from os-release" {
    assert_eq "$(os_release $'ID=debian\nVERSION_ID="12"' 12.5)" "debian|Debian|12|5"
    assert_eq "$(os_release $'ID=debian\nVERSION_ID="8"' 8.2)" "debian|Debian|8|2"
    assert_eq "$(os_release $'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"')" "ubuntu|Debian|22|04"
    assert_eq "$(os_release $'ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.3"')" "rhel|RedHat|9|3"
    assert_eq "$(os_release $'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="8.9"')" "rocky|RedHat|8|9"
    assert_eq "$(os_release $'ID="sles"\nID_LIKE="suse"\nVERSION_ID="15.5"')" "sles|Suse|15|5"
    assert_eq "$(os_release $'ID=arch')" "arch|Other||"
    assert_eq "$(os_release '')" "|||"
}

@test "time zone: the zone /etc/localtime points to, else /etc/timezone, else UTC" {
    run in_lib 'echo "$WMAIC_TIMEZONE"'
    assert_eq "$output" "UTC"
    echo "America/New_York" >"$ROOT/etc/timezone"
    run in_lib 'echo "$WMAIC_TIMEZONE"'
    assert_eq "$output" "America/New_York"
    ln -s ../usr/share/zoneinfo/Europe/Berlin "$ROOT/etc/localtime"
    run in_lib 'echo "$WMAIC_TIMEZONE"'
    assert_eq "$output" "Europe/Berlin"
}

@test "network: every IPv4 address with its interface, prefix and mask, and the default route" {
    need_root
    need_cmd ip
    NS="wmaic-vars-$$"
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    ip -n "$NS" link add eth7 type veth peer name eth7peer
    ip -n "$NS" link set eth7peer up
    ip -n "$NS" link set eth7 up
    ip -n "$NS" addr add 172.31.2.57/20 dev eth7
    ip -n "$NS" addr add 192.168.77.1/24 dev eth7
    ip -n "$NS" route add default via 172.31.0.1 dev eth7
    run ip netns exec "$NS" bash -c 'source "$ROOT/etc/profile.d/wmaic.sh"
        declare -p WMAIC_INET_IF WMAIC_NET_IPV4 WMAIC_NET_CIDR WMAIC_NET_MASK
        echo "$WMAIC_NET_ROUTE_IF $WMAIC_NET_ROUTE_IP"; wmaic_get_instances -i'
    [ "$status" -eq 0 ]
    assert_eq "$output" 'declare -a WMAIC_INET_IF=([0]="lo" [1]="eth7" [2]="eth7")
declare -a WMAIC_NET_IPV4=([0]="127.0.0.1" [1]="172.31.2.57" [2]="192.168.77.1")
declare -a WMAIC_NET_CIDR=([0]="8" [1]="20" [2]="24")
declare -a WMAIC_NET_MASK=([0]="255.0.0.0" [1]="255.255.240.0" [2]="255.255.255.0")
eth7 172.31.0.1
172.31.2.57'
}

@test "WMAIC_SECRET is the instance's own secret, read from its root-only file" {
    run in_lib 'echo "[$WMAIC_SECRET]"'
    assert_eq "$output" "[]"
    echo d9c1c6c0c437adca2c4b94f5db423b39 >"$ROOT/etc/wmaic/secret"
    run in_lib 'echo "[$WMAIC_SECRET]"'
    assert_eq "$output" "[d9c1c6c0c437adca2c4b94f5db423b39]"
}

@test "swarm variables of an instance outside any swarm: a swarm of one it is not a member of" {
    core_env "WMAIC_INSTANCE_ID='i-1'" "WMAIC_INSTANCE_TAGS=('web')"
    run in_lib 'declare -p WMAIC_SWARM_MEMBERS_EXT_IPS WMAIC_SWARM_MEMBER_TAGS
        printf "%s|" "$WMAIC_SWARM_MEMBER" "$WMAIC_SWARM_SIZE" "$WMAIC_SWARM_ID" "$WMAIC_SWARM_NAME"'
    [ "$status" -eq 0 ]
    assert_eq "$output" 'declare -a WMAIC_SWARM_MEMBERS_EXT_IPS=()
declare -a WMAIC_SWARM_MEMBER_TAGS=()
False|1|||'
}

@test "swarm variables of a member: the others with a known address, tags at the same index" {
    core_env "WMAIC_INSTANCE_ID='i-2'" "WMAIC_INSTANCE_TAGS=('wordpress')"
    swarm wp 4 "i-1|35.156.138.191|mysql" "i-2|35.156.138.200|wordpress" "i-3|35.156.127.45|nginx web" "i-4||late"
    echo df36bd41-9ddf-4e0b-99b9-7f52d39214bd >"$ROOT/etc/wmaic/swarm/id"
    run in_lib 'declare -p WMAIC_SWARM_MEMBERS_EXT_IPS WMAIC_SWARM_MEMBER_TAGS
        printf "%s|" "$WMAIC_SWARM_MEMBER" "$WMAIC_SWARM_SIZE" "$WMAIC_SWARM_ID" "$WMAIC_SWARM_NAME"'
    [ "$status" -eq 0 ]
    assert_eq "$output" 'declare -a WMAIC_SWARM_MEMBERS_EXT_IPS=([0]="35.156.138.191" [1]="35.156.127.45")
declare -a WMAIC_SWARM_MEMBER_TAGS=([0]="mysql" [1]="nginx web")
True|4|df36bd41-9ddf-4e0b-99b9-7f52d39214bd|wp|'
}

@test "wmaic_refresh_env reads what changed, and forgets a swarm that is gone" {
    core_env "WMAIC_INSTANCE_ID='i-1'" "WMAIC_REBOOT_REQUIRED='False'"
    swarm s 2 "i-1|10.0.0.1|a" "i-2|10.0.0.2|b"
    run in_lib 'echo "$WMAIC_REBOOT_REQUIRED ${WMAIC_SWARM_MEMBERS_EXT_IPS[*]} $WMAIC_SWARM_MEMBER"
        printf "WMAIC_INSTANCE_ID=i-1\nWMAIC_REBOOT_REQUIRED=True\n" >"$ROOT/etc/wmaic/core.env"
        rm "$ROOT/etc/wmaic/swarm/members.env"
        echo "before: $WMAIC_REBOOT_REQUIRED"
        wmaic_refresh_env
        echo "$WMAIC_REBOOT_REQUIRED [${WMAIC_SWARM_MEMBERS_EXT_IPS[*]}] $WMAIC_SWARM_MEMBER $WMAIC_SWARM_SIZE"'
    [ "$status" -eq 0 ]
    assert_eq "$output" "False 10.0.0.2 True
before: False
True [] False 1"
}

@test "WMAIC_STAGE is the stage the core started the script in" {
    run in_lib 'echo "[${WMAIC_STAGE-unset}]"'
    assert_eq "$output" "[unset]"
    WMAIC_STAGE=post-data-transfer run in_lib 'wmaic_refresh_env; echo "[$WMAIC_STAGE]"; bash -c "echo child:\$WMAIC_STAGE"'
    assert_eq "$output" $'[post-data-transfer]\nchild:post-data-transfer'
}
