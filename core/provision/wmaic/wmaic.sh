# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables set here are for the scripts that source the library
#
# WMAIC shell library: the variables and functions that user-defined scripts (UDS) can use on an
# instance managed by Wintermute.
#
# The core installs this file as /etc/profile.d/wmaic.sh. A UDS loads it in its first lines:
#
#     if [ -f /etc/profile.d/wmaic.sh ]; then
#         source /etc/profile.d/wmaic.sh
#     else
#         echo "WMAIC shell library not found, aborting!" 1>&2
#         exit 1
#     fi
#
# Login shells load it too (that is what /etc/profile.d is for), so loading must be quick, print
# nothing, change no shell option and never stop the shell.
#
# Where the values come from:
#   - what the instance can tell about itself (kernel, addresses, memory, distribution...) is read
#     here, on the instance, each time the library is loaded or wmaic_refresh_env is called;
#   - what only the core knows (instance id and name, tags, image, times of creation, patching and
#     reboot...) is in /etc/wmaic/core.env, a file of shell assignments the core writes;
#   - swarm membership is in /etc/wmaic/swarm/members.env (absent on an instance outside any
#     swarm) and the swarm's shared secret in /etc/wmaic/swarm/id (readable by root only); the core
#     keeps both current while members join and leave;
#   - WMAIC_SECRET, a secret of this instance alone, is made on the instance when the library is
#     installed (/etc/wmaic/secret, readable by root only) and never leaves it;
#   - WMAIC_STAGE comes from the environment the core runs the script in.
#
# State the functions keep on the instance:
#   /var/lib/wmaic/swarm-updates/   scripts registered for swarm updates (one file each)
#   /var/lib/wmaic/firewall/        the last firewall cloak and the ports opened in it, so they
#                                   can be applied again after a swarm update or a reboot
#   /var/log/wmaic/                 output of scripts sent to the background
#   /run/lock/wmaic/                locks of wmaic_exclusive_run
#
# WMAIC_PREFIX, when set, is put in front of every one of these paths (and of the /etc files read
# to describe the system): the tests use it to run the library against a directory of their own.
#
# Requires bash 4.4 or newer (Debian 10+, Ubuntu 18.04+, RHEL 8+, SLES 15+).

# Any other shell (dash reading /etc/profile, for one) stops here, before a line it cannot read.
# shellcheck disable=SC2317 # the exit is for a shell that runs this file instead of sourcing it
[ -n "${BASH_VERSION:-}" ] || return 0 2>/dev/null || exit 0

if ((BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 4))); then
    printf 'wmaic: the WMAIC shell library needs bash 4.4 or newer (this is %s)\n' "$BASH_VERSION" >&2
    return 1
fi

# bash before 5.1 cannot read process substitutions in POSIX mode (bash started as "sh"), which a
# login shell of a system whose sh is bash would be: such a shell skips the library. UDS scripts
# are "#!/bin/bash" scripts and never run in that mode.
if shopt -oq posix && ((BASH_VERSINFO[0] == 4 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] < 1))); then
    return 0
fi

WMAIC_LIBRARY_VERSION="1"

# ---------------------------------------------------------------------------------------------
# Small helpers (names starting with "_wmaic_" are internal and may change)
# ---------------------------------------------------------------------------------------------

# _wmaic_err MESSAGE...: one line on stderr, marked as ours.
_wmaic_err() {
    printf 'wmaic: %s\n' "$*" >&2
}

# _wmaic_usage FUNCTION MESSAGE: a misuse of a function; returns 2, the status for bad usage.
_wmaic_usage() {
    _wmaic_err "$1: $2"
    return 2
}

# _wmaic_path PATH: PATH inside WMAIC_PREFIX.
_wmaic_path() {
    printf '%s%s' "${WMAIC_PREFIX:-}" "$1"
}

# _wmaic_split_list TEXT: the items of a comma separated list, one a line, blanks trimmed,
# empty items dropped.
_wmaic_split_list() {
    local item items=()
    IFS=, read -r -a items <<<"$1"
    for item in "${items[@]}"; do
        item="${item#"${item%%[![:space:]]*}"}"
        item="${item%"${item##*[![:space:]]}"}"
        [[ -n $item ]] && printf '%s\n' "$item"
    done
    return 0
}

# _wmaic_is_address TEXT: an IPv4 or IPv6 address, optionally with a /prefix (CIDR).
_wmaic_is_address() {
    [[ $1 =~ ^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$ && $1 == *[.:]* ]]
}

# _wmaic_is_tag TEXT: a tag is one word of letters, digits, '_', '-' or '.'.
_wmaic_is_tag() {
    [[ $1 =~ ^[A-Za-z0-9_.-]+$ ]]
}

# _wmaic_ports SPEC: checks a port list such as "443", "80,443", "20-25" or "80,443,6666-6669"
# and prints its items one a line ("80" or "6666-6669"). Returns 1, with a message, when SPEC
# is not such a list.
_wmaic_ports() {
    local item first last
    local -a items
    mapfile -t items < <(_wmaic_split_list "$1")
    if ((${#items[@]} == 0)); then
        _wmaic_err "no port given"
        return 1
    fi
    for item in "${items[@]}"; do
        if [[ $item =~ ^([0-9]{1,5})(-([0-9]{1,5}))?$ ]]; then
            first=$((10#${BASH_REMATCH[1]}))
            last=$((10#${BASH_REMATCH[3]:-${BASH_REMATCH[1]}}))
            if ((first >= 1 && last <= 65535 && first <= last)); then
                if ((first == last)); then
                    printf '%s\n' "$first"
                else
                    printf '%s-%s\n' "$first" "$last"
                fi
                continue
            fi
        fi
        _wmaic_err "'$item' is not a TCP/UDP port or port range (1-65535, e.g. 80 or 6666-6669)"
        return 1
    done
}

# _wmaic_escapes VAR TEXT [SLASH]: sets VAR to TEXT with the format characters of
# wmaic_get_instances replaced: '\s' by a space, '\n' by a newline, '\t' by a tab, '\\' by one
# backslash; with SLASH=1 also the forms '/s', '/n' and '/t' (the manual documents both for the
# separator). (A variable, not output: $(...) would drop a trailing newline.)
_wmaic_escapes() {
    local text=$2 slash=${3:-0} out="" pair
    while [[ -n $text ]]; do
        pair=${text:0:2}
        case $pair in
        '\s') out+=' ' ;;
        '\n') out+=$'\n' ;;
        '\t') out+=$'\t' ;;
        "\\\\") out+="\\" ;;
        /s | /n | /t)
            if ((slash)); then
                case $pair in /s) out+=' ' ;; /n) out+=$'\n' ;; /t) out+=$'\t' ;; esac
            else
                out+=${text:0:1}
                text=${text:1}
                continue
            fi
            ;;
        *)
            out+=${text:0:1}
            text=${text:1}
            continue
            ;;
        esac
        text=${text:2}
    done
    printf -v "$1" '%s' "$out"
}

# _wmaic_save FILE: writes stdin to FILE, replacing it in one step, and makes sure it is on disk
# before returning: after a hard reset (a cloud's "reboot" may be one) a file just written but
# not yet flushed would come back empty.
_wmaic_save() {
    local file=$1
    cat >|"$file.tmp" || return 1
    sync -- "$file.tmp" 2>/dev/null || sync
    mv -f -- "$file.tmp" "$file" || return 1
    sync -- "${file%/*}" 2>/dev/null || sync
}

# _wmaic_need_root FUNCTION: returns 1, with a message, unless running as root.
_wmaic_need_root() {
    if ((EUID != 0)); then
        _wmaic_err "$1: needs root (run the script with sudo)"
        return 1
    fi
}

# _wmaic_need_command COMMAND PACKAGE: makes sure COMMAND exists, installing PACKAGE with the
# system's package manager when it does not. Returns 1, with a message, if that fails.
_wmaic_need_command() {
    command -v "$1" >/dev/null 2>&1 && return 0
    _wmaic_err "$1 is missing: installing the package $2"
    if command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get -q -y install "$2" >&2 ||
            { apt-get -q update >&2 && DEBIAN_FRONTEND=noninteractive apt-get -q -y install "$2" >&2; }
    elif command -v dnf >/dev/null 2>&1; then
        dnf -q -y install "$2" >&2
    elif command -v yum >/dev/null 2>&1; then
        yum -q -y install "$2" >&2
    elif command -v zypper >/dev/null 2>&1; then
        zypper -q -n install "$2" >&2
    fi
    if ! command -v "$1" >/dev/null 2>&1; then
        _wmaic_err "$1 is missing and the package $2 could not be installed"
        return 1
    fi
}

# _wmaic_script_key: a file name that stands for the running script: its base name and a
# checksum of its full path (two scripts of the same name in different folders differ).
_wmaic_script_key() {
    local base sum
    base=${_WMAIC_SCRIPT##*/}
    base=${base//[^A-Za-z0-9_.-]/_}
    sum=$(printf '%s' "$_WMAIC_SCRIPT" | cksum)
    printf '%s-%s' "$base" "${sum%% *}"
}

# _wmaic_need_script FUNCTION: returns 1, with a message, when the library was not loaded by a
# script file (an interactive shell, or a script read from stdin): FUNCTION works on scripts.
_wmaic_need_script() {
    if [[ -z ${_WMAIC_SCRIPT:-} ]]; then
        _wmaic_err "$1: works only in a script file that sources the library at its top level"
        return 1
    fi
}

# ---------------------------------------------------------------------------------------------
# The variables (manual appendix 8.1)
# ---------------------------------------------------------------------------------------------

# _wmaic_os_release: WMAIC_OS_DISTRO, WMAIC_OS_FAMILY and the release numbers, from
# /etc/os-release (and /etc/debian_version, which has Debian's point release).
_wmaic_os_release() {
    local key value id="" like="" version="" file
    file=$(_wmaic_path /etc/os-release)
    [[ -r $file ]] || file=$(_wmaic_path /usr/lib/os-release)
    if [[ -r $file ]]; then
        while IFS='=' read -r key value; do
            value=${value#[\"\']}
            value=${value%[\"\']}
            case $key in
            ID) id=$value ;;
            ID_LIKE) like=$value ;;
            VERSION_ID) version=$value ;;
            esac
        done <"$file"
    fi
    WMAIC_OS_DISTRO=$id
    [[ -n $id ]] || like=""
    case " $id $like " in
    *" debian "* | *" ubuntu "*) WMAIC_OS_FAMILY="Debian" ;;
    *" rhel "* | *" centos "* | *" fedora "* | *" rocky "* | *" almalinux "* | *" ol "* | *" amzn "*)
        WMAIC_OS_FAMILY="RedHat"
        ;;
    *" suse "* | *" sles "* | *" opensuse "* | *" opensuse-leap "* | *" opensuse-tumbleweed "*)
        WMAIC_OS_FAMILY="Suse"
        ;;
    "   ") WMAIC_OS_FAMILY="" ;;
    *) WMAIC_OS_FAMILY="Other" ;;
    esac
    # Debian keeps its point release ("12.5") in /etc/debian_version; os-release has only "12".
    file=$(_wmaic_path /etc/debian_version)
    if [[ $id == debian && -r $file ]]; then
        read -r value <"$file" || true
        [[ $value =~ ^[0-9]+(\.[0-9]+)*$ ]] && version=$value
    fi
    WMAIC_OS_MAJOR_REL=${version%%.*}
    WMAIC_OS_MINOR_REL=""
    if [[ $version == *.* ]]; then
        value=${version#*.}
        WMAIC_OS_MINOR_REL=${value%%.*}
    fi
}

# _wmaic_network: the IPv4 addresses of every interface, and the default route.
_wmaic_network() {
    local line name addr prefix mask i
    local -a words
    WMAIC_INET_IF=()
    WMAIC_NET_IPV4=()
    WMAIC_NET_CIDR=()
    WMAIC_NET_MASK=()
    WMAIC_NET_ROUTE_IF=""
    WMAIC_NET_ROUTE_IP=""
    command -v ip >/dev/null 2>&1 || return 0
    # One line an address: "2: eth0    inet 172.31.2.57/20 brd 172.31.15.255 scope global eth0 ..."
    while read -r -a words; do
        if ((${#words[@]} < 4)) || [[ ${words[2]} != inet ]]; then
            continue
        fi
        name=${words[1]%%@*}
        addr=${words[3]%%/*}
        prefix=${words[3]#*/}
        [[ $prefix == "${words[3]}" ]] && prefix=32
        mask=""
        for i in 0 1 2 3; do
            local bits=$((prefix - 8 * i))
            ((bits > 8)) && bits=8
            ((bits < 0)) && bits=0
            mask+="$(((0xff << (8 - bits)) & 0xff))"
            ((i < 3)) && mask+="."
        done
        WMAIC_INET_IF+=("$name")
        WMAIC_NET_IPV4+=("$addr")
        WMAIC_NET_CIDR+=("$prefix")
        WMAIC_NET_MASK+=("$mask")
    done < <(ip -o -4 addr show 2>/dev/null)
    # "default via 172.31.0.1 dev eth0 proto dhcp src 172.31.2.57 metric 100": the first is the
    # one in use (the lowest metric).
    line=$(ip -4 route show default 2>/dev/null) || line=""
    line=${line%%$'\n'*}
    read -r -a words <<<"$line"
    for ((i = 0; i + 1 < ${#words[@]}; i++)); do
        case ${words[i]} in
        via) WMAIC_NET_ROUTE_IP=${words[i + 1]} ;;
        dev) WMAIC_NET_ROUTE_IF=${words[i + 1]} ;;
        esac
    done
}

# _wmaic_system: everything the instance can tell about itself.
_wmaic_system() {
    local key value unit line file

    WMAIC_OS="Linux"
    WMAIC_KERNEL="Linux"
    [[ -r /proc/sys/kernel/ostype ]] && { read -r WMAIC_KERNEL </proc/sys/kernel/ostype || true; }
    WMAIC_OS=$WMAIC_KERNEL
    WMAIC_KERNEL_RELEASE=""
    [[ -r /proc/sys/kernel/osrelease ]] && { read -r WMAIC_KERNEL_RELEASE </proc/sys/kernel/osrelease || true; }
    WMAIC_KERNEL_VERSION=""
    WMAIC_KERNEL_MAJOR=""
    WMAIC_KERNEL_MINOR=""
    if [[ $WMAIC_KERNEL_RELEASE =~ ^([0-9]+)\.([0-9]+)(\.[0-9]+)? ]]; then
        WMAIC_KERNEL_VERSION=${BASH_REMATCH[0]}
        WMAIC_KERNEL_MAJOR=${BASH_REMATCH[1]}
        WMAIC_KERNEL_MINOR=${BASH_REMATCH[2]}
    fi
    WMAIC_ARCHITECTURE=$(uname -m 2>/dev/null) || WMAIC_ARCHITECTURE=""

    WMAIC_PROCESSOR_COUNT=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null) || WMAIC_PROCESSOR_COUNT=""

    WMAIC_MEM_AVAILABLE=""
    WMAIC_SWAP_AVAILABLE=""
    if [[ -r /proc/meminfo ]]; then
        while read -r key value unit; do
            case $key in
            MemTotal:) WMAIC_MEM_AVAILABLE=$((value * 1024)) ;;
            SwapTotal:) WMAIC_SWAP_AVAILABLE=$((value * 1024)) ;;
            esac
        done </proc/meminfo
    fi

    # Host names: the kernel's, completed to a full name by the resolver (bounded in time: a
    # broken DNS must not hold up every login).
    value=""
    [[ -r /proc/sys/kernel/hostname ]] && { read -r value </proc/sys/kernel/hostname || true; }
    [[ -n $value ]] || value=$(uname -n 2>/dev/null) || value=""
    WMAIC_HOSTNAME=${value%%.*}
    WMAIC_FQDN=$value
    if [[ $value != *.* ]] && command -v hostname >/dev/null 2>&1; then
        if command -v timeout >/dev/null 2>&1; then
            line=$(timeout 2 hostname -f 2>/dev/null) || line=""
        else
            line=$(hostname -f 2>/dev/null) || line=""
        fi
        [[ $line == "$WMAIC_HOSTNAME".* ]] && WMAIC_FQDN=$line
    fi
    WMAIC_DOMAIN=""
    [[ $WMAIC_FQDN == *.* ]] && WMAIC_DOMAIN=${WMAIC_FQDN#*.}

    # The system time zone: the zone /etc/localtime points to, else /etc/timezone, else UTC.
    WMAIC_TIMEZONE=""
    file=$(_wmaic_path /etc/localtime)
    if [[ -L $file ]]; then
        value=$(readlink "$file" 2>/dev/null) || value=""
        [[ $value == */zoneinfo/* ]] && WMAIC_TIMEZONE=${value##*/zoneinfo/}
    fi
    file=$(_wmaic_path /etc/timezone)
    if [[ -z $WMAIC_TIMEZONE && -r $file ]]; then
        read -r WMAIC_TIMEZONE <"$file" || true
    fi
    [[ -n $WMAIC_TIMEZONE ]] || WMAIC_TIMEZONE="UTC"

    # A pseudo-unique id of the system: the host id (eight hex digits), else the start of the
    # machine id.
    WMAIC_SYSTEM_ID=$(hostid 2>/dev/null) || WMAIC_SYSTEM_ID=""
    file=$(_wmaic_path /etc/machine-id)
    if [[ -z $WMAIC_SYSTEM_ID && -r $file ]]; then
        read -r value <"$file" || true
        WMAIC_SYSTEM_ID=${value:0:8}
    fi

    _wmaic_os_release
    _wmaic_network
}

# _wmaic_core_values: the values only the core knows, from /etc/wmaic/core.env. Every one is
# defined (empty, or "False" for the yes/no ones) even when the file is missing.
_wmaic_core_values() {
    local file
    WMAIC_INSTANCE_ID=""
    WMAIC_INSTANCE_NAME=""
    WMAIC_INSTANCE_INDEX=""
    WMAIC_INSTANCE_TYPE=""
    WMAIC_INSTANCE_TAGS=()
    WMAIC_IMAGE_ID=""
    WMAIC_CLOUD=""
    WMAIC_REGION=""
    WMAIC_AVAILABILITY_ZONE=""
    WMAIC_PUBLIC_HOSTNAME=""
    WMAIC_PUBLIC_IP4=""
    WMAIC_PRIVATE_IP4=""
    WMAIC_CREATED=""
    WMAIC_PATCHED=""
    WMAIC_REBOOTED=""
    WMAIC_REBOOT_REQUIRED="False"
    WMAIC_DEBUG="False"
    WMAIC_OWNER=""
    WMAIC_LOGIN_USER=""
    WMAIC_USERS=()
    WMAIC_STORAGE_MOUNT=""
    WMAIC_STORAGE_ENCRYPTED="False"
    WMAIC_DATA_DESTINATION=""
    file=$(_wmaic_path /etc/wmaic/core.env)
    if [[ -r $file ]]; then
        # shellcheck source=/dev/null
        . "$file" || _wmaic_err "could not read $file"
    fi
    WMAIC_SECRET=""
    file=$(_wmaic_path /etc/wmaic/secret)
    if [[ -r $file ]]; then
        read -r WMAIC_SECRET <"$file" || true
    fi
}

# _wmaic_self_address: the address other machines reach this one at: the private address the
# core knows, else the address on the default route's interface, else the first one that is not
# loopback, else the public one.
_wmaic_self_address() {
    local i
    if [[ -n $WMAIC_PRIVATE_IP4 ]]; then
        printf '%s' "$WMAIC_PRIVATE_IP4"
        return 0
    fi
    for i in "${!WMAIC_INET_IF[@]}"; do
        if [[ ${WMAIC_INET_IF[i]} == "$WMAIC_NET_ROUTE_IF" && -n $WMAIC_NET_ROUTE_IF ]]; then
            printf '%s' "${WMAIC_NET_IPV4[i]}"
            return 0
        fi
    done
    for i in "${!WMAIC_NET_IPV4[@]}"; do
        if [[ ${WMAIC_NET_IPV4[i]} != 127.* ]]; then
            printf '%s' "${WMAIC_NET_IPV4[i]}"
            return 0
        fi
    done
    printf '%s' "${WMAIC_PUBLIC_IP4:-127.0.0.1}"
}

# _wmaic_swarm_values: the swarm variables, and the list of every known instance the swarm
# functions work on (_WMAIC_ALL_IDS/_IPS/_TAGS, this instance at index _WMAIC_SELF).
#
# An instance outside any swarm is a swarm of one: the list holds only itself, WMAIC_SWARM_SIZE
# is 1, WMAIC_SWARM_MEMBER is "False" and the lists of other members are empty.
_wmaic_swarm_values() {
    local file i tags
    WMAIC_SWARM_NAME=""
    WMAIC_SWARM_SIZE=""
    WMAIC_SWARM_ID=""
    _WMAIC_MEMBER_IDS=()
    _WMAIC_MEMBER_IPS=()
    _WMAIC_MEMBER_TAGS=()
    file=$(_wmaic_path /etc/wmaic/swarm/members.env)
    if [[ -r $file ]]; then
        # shellcheck source=/dev/null
        . "$file" || _wmaic_err "could not read $file"
    fi
    _WMAIC_ALL_IDS=()
    _WMAIC_ALL_IPS=()
    _WMAIC_ALL_TAGS=()
    _WMAIC_SELF=-1
    WMAIC_SWARM_MEMBERS_EXT_IPS=()
    WMAIC_SWARM_MEMBER_TAGS=()
    if [[ -z $WMAIC_SWARM_NAME ]]; then
        WMAIC_SWARM_MEMBER="False"
        WMAIC_SWARM_SIZE="1"
    else
        WMAIC_SWARM_MEMBER="True"
        file=$(_wmaic_path /etc/wmaic/swarm/id)
        if [[ -r $file ]]; then
            read -r WMAIC_SWARM_ID <"$file" || true
        fi
        for i in "${!_WMAIC_MEMBER_IDS[@]}"; do
            _WMAIC_ALL_IDS+=("${_WMAIC_MEMBER_IDS[i]}")
            _WMAIC_ALL_IPS+=("${_WMAIC_MEMBER_IPS[i]:-}")
            _WMAIC_ALL_TAGS+=("${_WMAIC_MEMBER_TAGS[i]:-}")
            if [[ ${_WMAIC_MEMBER_IDS[i]} == "$WMAIC_INSTANCE_ID" && -n $WMAIC_INSTANCE_ID ]]; then
                _WMAIC_SELF=$((${#_WMAIC_ALL_IDS[@]} - 1))
            fi
        done
    fi
    # This instance is always in the list, with its own tags.
    tags=$(
        IFS=' '
        printf '%s' "${WMAIC_INSTANCE_TAGS[*]}"
    )
    if ((_WMAIC_SELF < 0)); then
        _WMAIC_ALL_IDS+=("$WMAIC_INSTANCE_ID")
        _WMAIC_ALL_IPS+=("$(_wmaic_self_address)")
        _WMAIC_ALL_TAGS+=("$tags")
        _WMAIC_SELF=$((${#_WMAIC_ALL_IDS[@]} - 1))
    else
        _WMAIC_ALL_TAGS[_WMAIC_SELF]=$tags
        [[ -n ${_WMAIC_ALL_IPS[_WMAIC_SELF]} ]] || _WMAIC_ALL_IPS[_WMAIC_SELF]=$(_wmaic_self_address)
    fi
    [[ $WMAIC_SWARM_SIZE =~ ^[0-9]+$ ]] || WMAIC_SWARM_SIZE=${#_WMAIC_ALL_IDS[@]}
    # The other members whose address is known, in the core's order.
    for i in "${!_WMAIC_ALL_IDS[@]}"; do
        ((i == _WMAIC_SELF)) && continue
        [[ -n ${_WMAIC_ALL_IPS[i]} ]] || continue
        WMAIC_SWARM_MEMBERS_EXT_IPS+=("${_WMAIC_ALL_IPS[i]}")
        WMAIC_SWARM_MEMBER_TAGS+=("${_WMAIC_ALL_TAGS[i]}")
    done
}

# _wmaic_load_env: sets every variable; run when the library is loaded and by wmaic_refresh_env.
_wmaic_load_env() {
    # Word splitting as usual, whatever IFS the script set.
    local IFS=$' \t\n'
    _wmaic_system
    _wmaic_core_values
    _wmaic_swarm_values
    # The stage is the one the core started this script in (in its environment), if any.
    if [[ -n ${WMAIC_STAGE+set} ]]; then
        export WMAIC_STAGE
    fi
    return 0
}

# _wmaic_select INCLUDE_SELF TAGS: the indexes (one a line) of the known instances that have an
# address and, when TAGS (a comma separated list) is not empty, at least one of those tags. This
# instance is left out unless INCLUDE_SELF is 1.
_wmaic_select() {
    local include_self=$1 i tag
    local -a wanted have
    mapfile -t wanted < <(_wmaic_split_list "$2")
    for i in "${!_WMAIC_ALL_IDS[@]}"; do
        ((i == _WMAIC_SELF && include_self == 0)) && continue
        [[ -n ${_WMAIC_ALL_IPS[i]} ]] || continue
        if ((${#wanted[@]} > 0)); then
            read -r -a have <<<"${_WMAIC_ALL_TAGS[i]}"
            local match=0 mine
            for tag in "${wanted[@]}"; do
                for mine in "${have[@]}"; do
                    [[ $mine == "$tag" ]] && match=1
                done
            done
            ((match)) || continue
        fi
        printf '%s\n' "$i"
    done
}

# ---------------------------------------------------------------------------------------------
# The functions (manual appendix 8.2)
# ---------------------------------------------------------------------------------------------

# eXit [REASON...]: prints REASON (if any) on stderr and ends the script with status 1.
eXit() {
    if (($# > 0)); then
        printf '%s\n' "$*" >&2
    fi
    exit 1
}

# wmaic_parse_template -i INPUT -o OUTPUT [-f] [-b] [-B POSTFIX]
#
# Writes OUTPUT: the text of INPUT with every ${NAME} whose NAME starts with "WMAI" (the WMAIC_
# variables, and the user's own WMAIU_ ones) replaced by the value that "${NAME}" has in the
# calling script (empty when it is not set; for an array, its first element, as in the shell).
# Values may span lines. Nothing else is touched: $NAME without braces, ${OTHER}, $(...) and
# backslashes stay as they are, and values are inserted as they are (never expanded again).
#
#   -f          overwrite OUTPUT if it exists (without -f an existing OUTPUT is an error)
#   -b          before overwriting, copy OUTPUT to OUTPUT plus the backup postfix
#   -B POSTFIX  the backup postfix (default "_BKP")
#
# OUTPUT is replaced in one step (a new file renamed over it), keeping the mode and owner of the
# file it replaces. Returns 0 when written, 1 when it could not be, 2 on a usage error.
wmaic_parse_template() {
    # Word splitting as usual, whatever IFS the script set.
    local IFS=$' \t\n'
    local OPTIND=1 OPTARG opt input="" output="" force=0 backup=0 postfix="_BKP"
    while getopts ":i:o:fbB:" opt; do
        case $opt in
        i) input=$OPTARG ;;
        o) output=$OPTARG ;;
        f) force=1 ;;
        b) backup=1 ;;
        B) postfix=$OPTARG ;;
        :) _wmaic_usage wmaic_parse_template "-$OPTARG needs a value" || return ;;
        *) _wmaic_usage wmaic_parse_template "unknown option -$OPTARG" || return ;;
        esac
    done
    shift $((OPTIND - 1))
    (($# == 0)) || { _wmaic_usage wmaic_parse_template "unexpected argument '$1'" || return; }
    [[ -n $input ]] || { _wmaic_usage wmaic_parse_template "no input file (-i)" || return; }
    [[ -n $output ]] || { _wmaic_usage wmaic_parse_template "no output file (-o)" || return; }
    [[ -n $postfix ]] || { _wmaic_usage wmaic_parse_template "the backup postfix (-B) is empty" || return; }

    if [[ ! -f $input || ! -r $input ]]; then
        _wmaic_err "wmaic_parse_template: cannot read the template $input"
        return 1
    fi
    # Writing through a symbolic link writes the file it points to.
    if [[ -L $output ]]; then
        local target
        target=$(readlink -f -- "$output") || target=""
        if [[ -z $target ]]; then
            _wmaic_err "wmaic_parse_template: cannot resolve the link $output"
            return 1
        fi
        output=$target
    fi
    if [[ -d $output ]]; then
        _wmaic_err "wmaic_parse_template: $output is a directory"
        return 1
    fi
    if [[ -e $output ]] && ((force == 0)); then
        _wmaic_err "wmaic_parse_template: $output exists (use -f to overwrite it)"
        return 1
    fi
    local dir=.
    [[ $output == */* ]] && dir=${output%/*}
    [[ -n $dir ]] || dir=/
    if [[ ! -d $dir ]]; then
        _wmaic_err "wmaic_parse_template: the folder $dir does not exist"
        return 1
    fi

    local tmp
    tmp=$(mktemp "$dir/.wmaic-template.XXXXXX") || {
        _wmaic_err "wmaic_parse_template: cannot write in $dir"
        return 1
    }
    if ! _wmaic_substitute <"$input" >|"$tmp"; then
        rm -f -- "$tmp"
        _wmaic_err "wmaic_parse_template: could not write $output"
        return 1
    fi
    if [[ -e $output ]]; then
        chmod --reference="$output" -- "$tmp" 2>/dev/null || true
        ((EUID == 0)) && { chown --reference="$output" -- "$tmp" 2>/dev/null || true; }
        if ((backup)) && ! cp -p -- "$output" "$output$postfix"; then
            rm -f -- "$tmp"
            _wmaic_err "wmaic_parse_template: could not back up $output to $output$postfix"
            return 1
        fi
    else
        chmod "$(printf '%o' $((0666 & ~8#$(umask))))" -- "$tmp" 2>/dev/null || true
    fi
    # On disk before it replaces the old file: a reset must not leave an empty file.
    sync -- "$tmp" 2>/dev/null || sync
    if ! mv -f -- "$tmp" "$output"; then
        rm -f -- "$tmp"
        _wmaic_err "wmaic_parse_template: could not write $output"
        return 1
    fi
}

# _wmaic_substitute: stdin to stdout with the ${WMAI...} references replaced (see
# wmaic_parse_template). Works a line at a time (a reference never spans lines); each line keeps
# its own line end, so the file's last line comes out exactly as it was, newline or not.
# shellcheck disable=SC2016 # '${WMAI' is the literal text looked for
_wmaic_substitute() {
    local LC_ALL=C line rest name
    local -a lines
    mapfile lines
    for line in "${lines[@]}"; do
        if [[ $line != *'${WMAI'* ]]; then
            printf '%s' "$line" || return 1
            continue
        fi
        rest=$line
        line=""
        while [[ $rest == *'${WMAI'* ]]; do
            line+=${rest%%'${WMAI'*}
            rest=${rest#*'${WMAI'}
            if [[ $rest =~ ^([A-Za-z0-9_]*)\} ]]; then
                name="WMAI${BASH_REMATCH[1]}"
                line+=${!name-}
                rest=${rest:${#BASH_REMATCH[0]}}
            else
                line+='${WMAI'
            fi
        done
        printf '%s' "$line$rest" || return 1
    done
}

# wmaic_exclusive_run [-x] [-w]
#
# Makes sure no other copy of the calling script runs on this instance at the same time: takes a
# lock that belongs to the script (its full path) and that is held until wmaic_release_exclusive_run
# or the end of the script, whichever comes first (a crashed script never leaves it behind).
# Returns 0 when this copy holds the lock (also when it held it already), 1 when another copy
# holds it.
#
#   -x   end the script (eXit) instead of returning 1
#   -w   wait until the other copies are done, however long that takes
wmaic_exclusive_run() {
    # Word splitting as usual, whatever IFS the script set.
    local IFS=$' \t\n'
    local OPTIND=1 OPTARG opt exit_on_fail=0 wait=0
    while getopts ":xw" opt; do
        case $opt in
        x) exit_on_fail=1 ;;
        w) wait=1 ;;
        *) _wmaic_usage wmaic_exclusive_run "unknown option -$OPTARG" || return ;;
        esac
    done
    shift $((OPTIND - 1))
    (($# == 0)) || { _wmaic_usage wmaic_exclusive_run "unexpected argument '$1'" || return; }
    _wmaic_need_script wmaic_exclusive_run || return 2
    [[ -n ${_WMAIC_LOCK_FD:-} ]] && return 0
    if ! command -v flock >/dev/null 2>&1; then
        _wmaic_err "wmaic_exclusive_run: flock (util-linux) is missing"
        ((exit_on_fail)) && eXit "wmaic_exclusive_run: no lock"
        return 2
    fi

    # root's locks live in /run/lock; another user's in a folder of their own.
    local dir file fd
    if ((EUID == 0)); then
        dir=$(_wmaic_path /run/lock/wmaic)
    else
        dir="${XDG_RUNTIME_DIR:-${TMPDIR:-/tmp}}/wmaic-lock-$EUID"
    fi
    if ! mkdir -p -- "$dir" 2>/dev/null || ! chmod 0700 -- "$dir" 2>/dev/null || [[ ! -O $dir ]]; then
        _wmaic_err "wmaic_exclusive_run: cannot create the lock folder $dir"
        ((exit_on_fail)) && eXit "wmaic_exclusive_run: no lock"
        return 2
    fi
    file="$dir/$(_wmaic_script_key).lock"
    if ! exec {fd}>>"$file"; then
        _wmaic_err "wmaic_exclusive_run: cannot open the lock $file"
        ((exit_on_fail)) && eXit "wmaic_exclusive_run: no lock"
        return 2
    fi
    if ((wait)); then
        # flock waits until the lock is free: no polling, so no delay once the other copy is done.
        flock "$fd"
    else
        flock -n "$fd"
    fi || {
        exec {fd}>&-
        ((exit_on_fail)) && eXit "another copy of $_WMAIC_SCRIPT is running"
        return 1
    }
    _WMAIC_LOCK_FD=$fd
    return 0
}

# wmaic_release_exclusive_run: gives up the lock that wmaic_exclusive_run took (nothing to do
# when none is held). Processes the script started keep no hold on it. Returns 0.
wmaic_release_exclusive_run() {
    if [[ -n ${_WMAIC_LOCK_FD:-} ]]; then
        flock -u "$_WMAIC_LOCK_FD" 2>/dev/null || true
        exec {_WMAIC_LOCK_FD}>&-
        _WMAIC_LOCK_FD=""
    fi
    return 0
}

# wmaic_get_instances [-i] [-t TAGS] [-s SEPARATOR] [-p PREFIX] [-x POSTFIX]
#
# Prints the addresses of the other instances of the swarm on one line, joined by SEPARATOR
# (default: a space), each with PREFIX before and POSTFIX after it, in the order the core lists
# the members. Members whose address is not known yet are left out.
#
#   -i           include this instance too
#   -t TAGS      only the instances that have at least one of these tags (comma separated)
#   -s SEP       separator; '\s' or '/s' is a space, '\n' or '/n' a newline, '\t' or '/t' a tab
#   -p PREFIX    text before each address ('\s', '\n', '\t' as above)
#   -x POSTFIX   text after each address ('\s', '\n', '\t' as above)
#
# An instance outside any swarm knows only itself: it prints its own address with -i (if the
# tags match), nothing otherwise. Returns 0 when it printed at least one instance, 1 when none
# matched (nothing printed), 2 on a usage error.
wmaic_get_instances() {
    # Word splitting as usual, whatever IFS the script set.
    local IFS=$' \t\n'
    local OPTIND=1 OPTARG opt include_self=0 tags="" sep=" " prefix="" postfix="" tag
    while getopts ":it:s:p:x:" opt; do
        case $opt in
        i) include_self=1 ;;
        t) tags=$OPTARG ;;
        s) _wmaic_escapes sep "$OPTARG" 1 ;;
        p) _wmaic_escapes prefix "$OPTARG" ;;
        x) _wmaic_escapes postfix "$OPTARG" ;;
        :) _wmaic_usage wmaic_get_instances "-$OPTARG needs a value" || return ;;
        *) _wmaic_usage wmaic_get_instances "unknown option -$OPTARG" || return ;;
        esac
    done
    shift $((OPTIND - 1))
    (($# == 0)) || { _wmaic_usage wmaic_get_instances "unexpected argument '$1'" || return; }
    while read -r tag; do
        _wmaic_is_tag "$tag" || { _wmaic_usage wmaic_get_instances "'$tag' is not a tag" || return; }
    done < <(_wmaic_split_list "$tags")

    local i out="" n=0
    local -a picked
    mapfile -t picked < <(_wmaic_select "$include_self" "$tags")
    for i in "${picked[@]}"; do
        ((n++ > 0)) && out+=$sep
        out+="$prefix${_WMAIC_ALL_IPS[i]}$postfix"
    done
    ((n > 0)) || return 1
    printf '%s\n' "$out"
}

# wmaic_wait_for_instances [-w SECONDS]
#
# Waits until the core has told this instance about every member of its swarm (each one listed,
# with its address), checking every 5 seconds. Returns at once on an instance outside any swarm.
# The variables of the calling script stay as they were: call wmaic_refresh_env afterwards.
#
#   -w SECONDS   give up after this long and return 1 (not in the manual; default: wait forever)
wmaic_wait_for_instances() {
    # Word splitting as usual, whatever IFS the script set.
    local IFS=$' \t\n'
    local OPTIND=1 OPTARG opt limit="" started=$SECONDS interval=${_WMAIC_POLL_SECONDS:-5}
    while getopts ":w:" opt; do
        case $opt in
        w) limit=$OPTARG ;;
        :) _wmaic_usage wmaic_wait_for_instances "-$OPTARG needs a value" || return ;;
        *) _wmaic_usage wmaic_wait_for_instances "unknown option -$OPTARG" || return ;;
        esac
    done
    shift $((OPTIND - 1))
    (($# == 0)) || { _wmaic_usage wmaic_wait_for_instances "unexpected argument '$1'" || return; }
    if [[ -n $limit && ! $limit =~ ^[0-9]+$ ]]; then
        _wmaic_usage wmaic_wait_for_instances "-w takes a number of seconds" || return
    fi
    while ! _wmaic_swarm_complete; do
        if [[ -n $limit ]] && ((SECONDS - started >= limit)); then
            _wmaic_err "wmaic_wait_for_instances: the swarm is still incomplete after $limit seconds"
            return 1
        fi
        sleep "$interval"
    done
    return 0
}

# _wmaic_swarm_complete: whether the swarm file, read now, lists WMAIC_SWARM_SIZE members that
# all have an address (true outside any swarm). The caller's variables are not changed.
_wmaic_swarm_complete() {
    # Word splitting as usual, whatever IFS the script set.
    local IFS=$' \t\n'
    local file WMAIC_SWARM_NAME="" WMAIC_SWARM_SIZE="" ip known=0
    local -a _WMAIC_MEMBER_IDS=() _WMAIC_MEMBER_IPS=() _WMAIC_MEMBER_TAGS=()
    file=$(_wmaic_path /etc/wmaic/swarm/members.env)
    [[ -r $file ]] || return 0
    # shellcheck source=/dev/null
    . "$file" || return 1
    [[ -n $WMAIC_SWARM_NAME ]] || return 0
    for ip in "${_WMAIC_MEMBER_IPS[@]}"; do
        [[ -n $ip ]] && known=$((known + 1))
    done
    [[ $WMAIC_SWARM_SIZE =~ ^[0-9]+$ ]] || return 1
    ((${#_WMAIC_MEMBER_IDS[@]} >= WMAIC_SWARM_SIZE && known >= WMAIC_SWARM_SIZE))
}

# wmaic_wait_for_services <-t TAGS | -n IPS | -a> -p PORTS [-i] [-w SECONDS] [-x TRIES]
#                         [-X SECONDS] [-v]
#
# Waits until every chosen instance accepts TCP connections on every port of PORTS. Instances are
# chosen by tags (-t, at least one of them), by address (-n), or all other swarm members (-a); -t
# and -n may be given together. This instance is checked only with -i (on 127.0.0.1, as
# "localhost"), and then only if it is chosen too (-a, or a matching tag; -n with -i always).
#
#   -p PORTS     ports to check: 443, 80,443, 20-25 or 80,443,6666-6669
#   -w SECONDS   how long one connection attempt may take (default 5)
#   -x TRIES     how many times to try (default: until it works)
#   -X SECONDS   pause between two tries (default 10)
#   -v           say what is checked and how it went (on stderr)
#
# Returns 0 when all answer (at once when nothing was chosen: an instance outside any swarm has
# no other instance to wait for). When they still do not answer after TRIES tries, or on a usage
# error, it ends the whole script (status 1, or 2 for usage), as the manual says.
wmaic_wait_for_services() {
    # Word splitting as usual, whatever IFS the script set.
    local IFS=$' \t\n'
    local OPTIND=1 OPTARG opt tags="" ips="" all=0 ports="" include_self=0 connect=5 tries="" pause=10 verbose=0
    while getopts ":t:n:ap:iw:x:X:v" opt; do
        case $opt in
        t) tags=$OPTARG ;;
        n) ips=$OPTARG ;;
        a) all=1 ;;
        p) ports=$OPTARG ;;
        i) include_self=1 ;;
        w) connect=$OPTARG ;;
        x) tries=$OPTARG ;;
        X) pause=$OPTARG ;;
        v) verbose=1 ;;
        :) _wmaic_err "wmaic_wait_for_services: -$OPTARG needs a value" && exit 2 ;;
        *) _wmaic_err "wmaic_wait_for_services: unknown option -$OPTARG" && exit 2 ;;
        esac
    done
    shift $((OPTIND - 1))
    local problem=""
    if (($# > 0)); then
        problem="unexpected argument '$1'"
    elif [[ -z $ports ]]; then
        problem="no port given (-p)"
    elif [[ -z $tags && -z $ips && $all == 0 ]]; then
        problem="say which instances to check: -t TAGS, -n IPS or -a"
    elif [[ ! $connect =~ ^[0-9]+$ ]] || ((connect < 1)); then
        problem="-w takes a number of seconds (1 or more)"
    elif [[ -n $tries && ! $tries =~ ^[0-9]+$ ]] || [[ $tries == 0 ]]; then
        problem="-x takes a number of tries (1 or more)"
    elif [[ ! $pause =~ ^[0-9]+$ ]]; then
        problem="-X takes a number of seconds"
    fi
    if [[ -n $problem ]]; then
        _wmaic_err "wmaic_wait_for_services: $problem"
        exit 2
    fi
    local -a items targets=() pending=() picked=()
    local list
    list=$(_wmaic_ports "$ports") || exit 2
    mapfile -t items <<<"$list"

    # The hosts to check.
    local i ip tag
    while read -r tag; do
        _wmaic_is_tag "$tag" || { _wmaic_err "wmaic_wait_for_services: '$tag' is not a tag" && exit 2; }
    done < <(_wmaic_split_list "$tags")
    while read -r ip; do
        [[ $ip =~ ^[A-Za-z0-9_.:-]+$ ]] || { _wmaic_err "wmaic_wait_for_services: '$ip' is not an address" && exit 2; }
    done < <(_wmaic_split_list "$ips")
    if ((all)); then
        mapfile -t picked < <(_wmaic_select "$include_self" "")
    elif [[ -n $tags ]]; then
        mapfile -t picked < <(_wmaic_select "$include_self" "$tags")
    fi
    for i in "${picked[@]}"; do
        if ((i == _WMAIC_SELF)); then
            targets+=("127.0.0.1")
        else
            targets+=("${_WMAIC_ALL_IPS[i]}")
        fi
    done
    if [[ -n $ips ]]; then
        while read -r ip; do
            targets+=("$ip")
        done < <(_wmaic_split_list "$ips")
        ((include_self)) && targets+=("127.0.0.1")
    fi

    # Every host:port pair, once.
    local item port first last seen=" "
    for ip in "${targets[@]}"; do
        for item in "${items[@]}"; do
            first=${item%-*}
            last=${item#*-}
            for ((port = first; port <= last; port++)); do
                [[ $seen == *" $ip:$port "* ]] && continue
                seen+="$ip:$port "
                pending+=("$ip $port")
            done
        done
    done
    if ((${#pending[@]} == 0)); then
        ((verbose)) && _wmaic_err "wmaic_wait_for_services: no instance chosen, nothing to wait for"
        return 0
    fi

    local attempt=0 pair
    local -a left
    while :; do
        attempt=$((attempt + 1))
        left=()
        for pair in "${pending[@]}"; do
            if _wmaic_tcp_open "${pair% *}" "${pair#* }" "$connect"; then
                ((verbose)) && _wmaic_err "${pair% *}:${pair#* } answers"
            else
                ((verbose)) && _wmaic_err "${pair% *}:${pair#* } does not answer (try $attempt${tries:+ of $tries})"
                left+=("$pair")
            fi
        done
        ((${#left[@]} == 0)) && return 0
        pending=("${left[@]}")
        if [[ -n $tries ]] && ((attempt >= tries)); then
            local names=()
            for pair in "${pending[@]}"; do names+=("${pair% *}:${pair#* }"); done
            eXit "wmaic_wait_for_services: no service on ${names[*]} after $attempt tries"
        fi
        sleep "$pause"
    done
}

# _wmaic_tcp_open HOST PORT SECONDS: whether a TCP connection to HOST:PORT opens within SECONDS.
# shellcheck disable=SC2016 # $1 and $2 are expanded by the inner bash
_wmaic_tcp_open() {
    timeout "$3" "$BASH" -c 'exec 3<>"/dev/tcp/$1/$2"' wmaic-probe "$1" "$2" 2>/dev/null
}

# wmaic_cloak_instance [-s] [-i IPS] [-t TAGS]
#
# Puts a firewall (iptables, and ip6tables where IPv6 is on) around this instance: everything
# going out is allowed; coming in, only SSH (port 22, and the port the core's connection came in
# on), answers to connections this instance opened, loopback, the ports opened with
# wmaic_open_port, and the sources below. The rest is dropped.
#
#   -s        allow everything from the other members of the swarm (nothing outside a swarm)
#   -i IPS    allow everything from these addresses; CIDR ranges allowed (comma separated)
#   -t TAGS   allow everything from the instances that have one of these tags (comma separated)
#
# May be called again (each swarm update, say): the allowed sources are replaced at once, the
# open ports stay. The core applies the last cloak again after a swarm update (with the new
# member addresses) and at boot. Needs root; installs iptables if it is missing. Returns 0 when
# the firewall is up, 1 if it could not be set, 2 on a usage error.
wmaic_cloak_instance() {
    # Word splitting as usual, whatever IFS the script set.
    local IFS=$' \t\n'
    local OPTIND=1 OPTARG opt swarm=0 ips="" tags="" item
    local -a args=()
    while getopts ":si:t:" opt; do
        case $opt in
        s)
            swarm=1
            args+=(-s)
            ;;
        i) ips+="${ips:+,}$OPTARG" ;;
        t) tags+="${tags:+,}$OPTARG" ;;
        :) _wmaic_usage wmaic_cloak_instance "-$OPTARG needs a value" || return ;;
        *) _wmaic_usage wmaic_cloak_instance "unknown option -$OPTARG" || return ;;
        esac
    done
    shift $((OPTIND - 1))
    (($# == 0)) || { _wmaic_usage wmaic_cloak_instance "unexpected argument '$1'" || return; }
    local -a sources=() tag_list=()
    while read -r item; do
        _wmaic_is_address "$item" || { _wmaic_usage wmaic_cloak_instance "'$item' is not an IP address or range" || return; }
        sources+=("$item")
    done < <(_wmaic_split_list "$ips")
    while read -r item; do
        _wmaic_is_tag "$item" || { _wmaic_usage wmaic_cloak_instance "'$item' is not a tag" || return; }
        tag_list+=("$item")
    done < <(_wmaic_split_list "$tags")
    ((${#sources[@]})) && args+=(-i "$(
        IFS=,
        printf '%s' "${sources[*]}"
    )")
    ((${#tag_list[@]})) && args+=(-t "$(
        IFS=,
        printf '%s' "${tag_list[*]}"
    )")
    _wmaic_need_root wmaic_cloak_instance || return 1
    _wmaic_need_command iptables iptables || return 1

    # The sources: given addresses, then the members of the swarm (-s) or with the tags (-t).
    local i
    local -a picked=()
    if ((swarm)) && [[ $WMAIC_SWARM_MEMBER == True ]]; then
        mapfile -t picked < <(_wmaic_select 0 "")
    elif ((${#tag_list[@]})); then
        mapfile -t picked < <(_wmaic_select 0 "$tags")
    fi
    for i in "${picked[@]}"; do
        sources+=("${_WMAIC_ALL_IPS[i]}")
    done

    # SSH: port 22, and the port the core's session came in on if that is another one.
    local -a ssh_ports=(22)
    local -a conn
    read -r -a conn <<<"${SSH_CONNECTION:-}"
    if [[ ${conn[3]:-} =~ ^[0-9]+$ && ${conn[3]} != 22 ]]; then
        ssh_ports+=("${conn[3]}")
    fi

    local ssh_list
    ssh_list=$(
        IFS=,
        printf '%s' "${ssh_ports[*]}"
    )
    _wmaic_cloak_family iptables 4 "$ssh_list" "${sources[@]}" || return 1
    if command -v ip6tables >/dev/null 2>&1 && [[ -e /proc/net/if_inet6 ]]; then
        _wmaic_cloak_family ip6tables 6 "$ssh_list" "${sources[@]}" || return 1
    fi

    # Remember the call, for the swarm updates and the next boot.
    local dir
    dir=$(_wmaic_path /var/lib/wmaic/firewall)
    if ! mkdir -p -- "$dir" || ! printf '%s\n' "${args[*]}" | _wmaic_save "$dir/cloak"; then
        _wmaic_err "wmaic_cloak_instance: could not record the cloak in $dir (it will not be restored at boot)"
    fi
    return 0
}

# _wmaic_cloak_family TOOL FAMILY SSH_PORTS SOURCE...: builds the chains of one address family in
# one transaction (iptables-restore), so no packet ever sees a half-built firewall:
#   WMAIC_CLOAK  (rebuilt on every call) loopback, established, SSH, sources, WMAIC_PORTS, drop
#   WMAIC_PORTS  (kept) the ports wmaic_open_port opened
# and makes WMAIC_CLOAK the first rule of INPUT.
_wmaic_cloak_family() {
    local tool=$1 family=$2 source port
    local -a ssh_ports
    IFS=, read -r -a ssh_ports <<<"$3"
    shift 3
    local rules="*filter"$'\n'":WMAIC_CLOAK - [0:0]"$'\n'
    "$tool" -w -n -L WMAIC_PORTS >/dev/null 2>&1 || rules+=":WMAIC_PORTS - [0:0]"$'\n'
    rules+="-A WMAIC_CLOAK -i lo -j ACCEPT"$'\n'
    rules+="-A WMAIC_CLOAK -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"$'\n'
    if ((family == 6)); then
        # IPv6 does not work without ICMPv6 (neighbour discovery, router advertisements).
        rules+="-A WMAIC_CLOAK -p ipv6-icmp -j ACCEPT"$'\n'
    fi
    for port in "${ssh_ports[@]}"; do
        rules+="-A WMAIC_CLOAK -p tcp --dport $port -j ACCEPT"$'\n'
    done
    for source in "$@"; do
        if [[ ($family == 4 && $source != *:*) || ($family == 6 && $source == *:*) ]]; then
            rules+="-A WMAIC_CLOAK -s $source -j ACCEPT"$'\n'
        fi
    done
    rules+="-A WMAIC_CLOAK -j WMAIC_PORTS"$'\n'
    rules+="-A WMAIC_CLOAK -j DROP"$'\n'
    rules+="COMMIT"$'\n'
    if ! printf '%s' "$rules" | "$tool-restore" -w --noflush; then
        _wmaic_err "wmaic_cloak_instance: $tool refused the rules"
        return 1
    fi
    if ! "$tool" -w -C INPUT -j WMAIC_CLOAK 2>/dev/null; then
        "$tool" -w -I INPUT 1 -j WMAIC_CLOAK || {
            _wmaic_err "wmaic_cloak_instance: could not hook the cloak into $tool's INPUT chain"
            return 1
        }
    fi
}

# wmaic_open_port [-u] -p PORTS [-a IPS]
#
# Opens PORTS (443, 80,443, 20-25 or 80,443,6666-6669) in the cloak, for everyone or, with -a,
# only for these addresses or CIDR ranges (comma separated). TCP unless -u (UDP). Opening a port
# twice is harmless. The cloak must be up (wmaic_cloak_instance) first. Needs root. Returns 0 when
# open, 1 if not (no cloak, iptables failed), 2 on a usage error.
wmaic_open_port() {
    # Word splitting as usual, whatever IFS the script set.
    local IFS=$' \t\n'
    local OPTIND=1 OPTARG opt proto=tcp ports="" ips="" item
    while getopts ":up:a:" opt; do
        case $opt in
        u) proto=udp ;;
        p) ports+="${ports:+,}$OPTARG" ;;
        a) ips+="${ips:+,}$OPTARG" ;;
        :) _wmaic_usage wmaic_open_port "-$OPTARG needs a value" || return ;;
        *) _wmaic_usage wmaic_open_port "unknown option -$OPTARG" || return ;;
        esac
    done
    shift $((OPTIND - 1))
    (($# == 0)) || { _wmaic_usage wmaic_open_port "unexpected argument '$1'" || return; }
    [[ -n $ports ]] || { _wmaic_usage wmaic_open_port "no port given (-p)" || return; }
    local -a items sources=()
    local list
    list=$(_wmaic_ports "$ports") || return 2
    mapfile -t items <<<"$list"
    while read -r item; do
        _wmaic_is_address "$item" || { _wmaic_usage wmaic_open_port "'$item' is not an IP address or range" || return; }
        sources+=("$item")
    done < <(_wmaic_split_list "$ips")
    _wmaic_need_root wmaic_open_port || return 1
    if ! command -v iptables >/dev/null 2>&1 || ! iptables -w -n -L WMAIC_PORTS >/dev/null 2>&1; then
        _wmaic_err "wmaic_open_port: the firewall cloak is not up: call wmaic_cloak_instance first"
        return 1
    fi

    local tool source
    local -a rule
    for tool in iptables ip6tables; do
        [[ $tool == ip6tables ]] && ! "$tool" -w -n -L WMAIC_PORTS >/dev/null 2>&1 && continue
        for item in "${items[@]}"; do
            if ((${#sources[@]} == 0)); then
                rule=(-p "$proto" --dport "${item/-/:}" -j ACCEPT)
                "$tool" -w -C WMAIC_PORTS "${rule[@]}" 2>/dev/null || "$tool" -w -A WMAIC_PORTS "${rule[@]}" || return 1
                continue
            fi
            for source in "${sources[@]}"; do
                [[ $tool == iptables && $source == *:* ]] && continue
                [[ $tool == ip6tables && $source != *:* ]] && continue
                rule=(-p "$proto" -s "$source" --dport "${item/-/:}" -j ACCEPT)
                "$tool" -w -C WMAIC_PORTS "${rule[@]}" 2>/dev/null || "$tool" -w -A WMAIC_PORTS "${rule[@]}" || return 1
            done
        done
    done

    # Remember the call (once), for the next boot.
    local dir line
    dir=$(_wmaic_path /var/lib/wmaic/firewall)
    line=""
    [[ $proto == udp ]] && line="-u "
    line+="-p $(
        IFS=,
        printf '%s' "${items[*]}"
    )"
    ((${#sources[@]})) && line+=" -a $(
        IFS=,
        printf '%s' "${sources[*]}"
    )"
    if mkdir -p -- "$dir" && ! grep -qxF -- "$line" "$dir/ports" 2>/dev/null; then
        { cat -- "$dir/ports" 2>/dev/null; printf '%s\n' "$line"; } | _wmaic_save "$dir/ports" ||
            _wmaic_err "wmaic_open_port: could not record the port in $dir (it will not be opened again at boot)"
    fi
    return 0
}

# wmaic_register_for_swarm_updates
#
# Registers the calling script, with the arguments it was started with and the folder it was
# started in, to be run again on each swarm update (a member joined or left). Registering twice
# keeps one entry. Those runs see WMAIC_STAGE="swarm-update-action" (wmaic_is_swarm_update_action).
# Returns 0 when registered, 1 if not (not a script file, or the registry cannot be written).
wmaic_register_for_swarm_updates() {
    # Word splitting as usual, whatever IFS the script set.
    local IFS=$' \t\n'
    (($# == 0)) || { _wmaic_usage wmaic_register_for_swarm_updates "takes no argument" || return; }
    _wmaic_need_script wmaic_register_for_swarm_updates || return 1
    local dir key file
    dir=$(_wmaic_path /var/lib/wmaic/swarm-updates)
    if ! mkdir -p -- "$dir"; then
        _wmaic_err "wmaic_register_for_swarm_updates: cannot create $dir"
        return 1
    fi
    key=$(_wmaic_script_key)
    # An entry keeps its place (its number) when the script registers again.
    local -a existing
    mapfile -t existing < <(find "$dir" -maxdepth 1 -name "[0-9]*-$key.cmd" -printf '%f\n' 2>/dev/null)
    if ((${#existing[@]} > 0)); then
        file="$dir/${existing[0]}"
    else
        local last
        last=$(find "$dir" -maxdepth 1 -name '[0-9]*-*.cmd' -printf '%f\n' 2>/dev/null | sort | tail -n 1)
        last=${last%%-*}
        file="$dir/$(printf '%06d' $((10#${last:-0} + 1)))-$key.cmd"
    fi
    # The folder, the script and its arguments, each ended by a NUL byte: any argument survives.
    if ! printf '%s\0' "$_WMAIC_START_DIR" "$_WMAIC_SCRIPT" "${_WMAIC_SCRIPT_ARGS[@]}" | _wmaic_save "$file"; then
        rm -f -- "$file.tmp"
        _wmaic_err "wmaic_register_for_swarm_updates: cannot write $file"
        return 1
    fi
    return 0
}

# wmaic_is_tag_assigned TAG: 0 when this instance has the tag TAG, 1 when it does not, 2 when no
# tag is given.
wmaic_is_tag_assigned() {
    if (($# != 1)) || [[ -z $1 ]]; then
        _wmaic_usage wmaic_is_tag_assigned "give one tag"
        return
    fi
    local tag
    for tag in "${WMAIC_INSTANCE_TAGS[@]}"; do
        [[ $tag == "$1" ]] && return 0
    done
    return 1
}

# wmaic_is_swarm_member: 0 when this instance is a member of a swarm, 1 when it is not.
wmaic_is_swarm_member() {
    [[ ${WMAIC_SWARM_MEMBER:-False} == True ]]
}

# wmaic_is_swarm_update_action: 0 when this run of the script is a swarm update, 1 when it is
# not (the first run, while the instance is set up).
wmaic_is_swarm_update_action() {
    [[ ${WMAIC_STAGE:-} == swarm-update-action ]]
}

# wmaic_get_current_stage: prints the set-up stage the script runs in (WMAIC_STAGE:
# "post-data-transfer" or "swarm-update-action"); returns 1, printing nothing, when the script
# was not started by the core in a stage.
wmaic_get_current_stage() {
    [[ -n ${WMAIC_STAGE:-} ]] || return 1
    printf '%s\n' "$WMAIC_STAGE"
}

# wmaic_run_in_background
#
# Sends the rest of the calling script to the background: the script starts again, with the same
# arguments and from the same folder, detached from the SSH session (its own session, no
# terminal, SIGHUP ignored, input from /dev/null, output to a log in /var/log/wmaic), and this copy
# ends at once with status 0 after printing where the log is. In the detached copy the call does
# nothing and the script goes on; so the lines before the call run twice and should only set
# things up (the manual puts the call right after loading the library).
wmaic_run_in_background() {
    # Word splitting as usual, whatever IFS the script set.
    local IFS=$' \t\n'
    (($# == 0)) || { _wmaic_usage wmaic_run_in_background "takes no argument" || return; }
    _wmaic_need_script wmaic_run_in_background || return 1
    if [[ ${_WMAIC_BACKGROUND:-} == "$_WMAIC_SCRIPT" ]]; then
        # The detached copy: go on, and do not pass the mark to scripts this one starts.
        unset _WMAIC_BACKGROUND
        return 0
    fi
    local dir log name
    dir=$(_wmaic_path /var/log/wmaic)
    mkdir -p -- "$dir" 2>/dev/null
    [[ -d $dir && -w $dir ]] || dir=${TMPDIR:-/tmp}
    name=${_WMAIC_SCRIPT##*/}
    log="$dir/${name//[^A-Za-z0-9_.-]/_}.$(date +%Y%m%d%H%M%S).$$.log"
    if ! : >>"$log"; then
        _wmaic_err "wmaic_run_in_background: cannot write the log $log"
        return 1
    fi
    local pid
    (
        cd -- "$_WMAIC_START_DIR" 2>/dev/null || cd /
        # The lock of wmaic_exclusive_run stays with this copy until it ends.
        [[ -n ${_WMAIC_LOCK_FD:-} ]] && exec {_WMAIC_LOCK_FD}>&-
        _WMAIC_BACKGROUND=$_WMAIC_SCRIPT exec setsid nohup "$BASH" "$_WMAIC_SCRIPT" "${_WMAIC_SCRIPT_ARGS[@]}" \
            </dev/null >>"$log" 2>&1
    ) &
    pid=$!
    printf 'wmaic: %s goes on in the background (process %s), its output: %s\n' "$_WMAIC_SCRIPT" "$pid" "$log"
    exit 0
}

# wmaic_refresh_env: reads every variable again (the swarm's members may have changed, after
# wmaic_wait_for_instances for one). Returns 0.
wmaic_refresh_env() {
    _wmaic_load_env
}

# ---------------------------------------------------------------------------------------------
# Entry points for the core (not for scripts)
# ---------------------------------------------------------------------------------------------

# _wmaic_core_firewall_restore: applies the last cloak and the opened ports again (the core
# calls it after a swarm update; the wmaic-firewall service at boot). Nothing without a cloak.
_wmaic_core_firewall_restore() {
    # Word splitting as usual, whatever IFS the script set.
    local IFS=$' \t\n'
    local dir line status=0
    local -a args
    dir=$(_wmaic_path /var/lib/wmaic/firewall)
    [[ -r $dir/cloak ]] || return 0
    read -r line <"$dir/cloak" || true
    read -r -a args <<<"$line"
    wmaic_cloak_instance "${args[@]}" || return 1
    if [[ -r $dir/ports ]]; then
        while read -r line; do
            read -r -a args <<<"$line"
            ((${#args[@]})) || continue
            wmaic_open_port "${args[@]}" || status=1
        done <"$dir/ports"
    fi
    return "$status"
}

# _wmaic_core_swarm_update: what the core runs (as root) on every member after it rewrote the
# swarm files: the variables are read again, the cloak is applied again (new members let in, gone
# ones out), then every script registered with wmaic_register_for_swarm_updates runs again, in
# the order they registered, with WMAIC_STAGE="swarm-update-action". Their output goes to this
# command's output. Returns 1 if any of them failed.
_wmaic_core_swarm_update() {
    # Word splitting as usual, whatever IFS the script set.
    local IFS=$' \t\n'
    local dir file status=0
    local -a entry files
    _wmaic_load_env
    _wmaic_core_firewall_restore || status=1
    dir=$(_wmaic_path /var/lib/wmaic/swarm-updates)
    [[ -d $dir ]] || return "$status"
    mapfile -t files < <(find "$dir" -maxdepth 1 -name '[0-9]*-*.cmd' -printf '%f\n' 2>/dev/null | sort)
    for file in "${files[@]}"; do
        mapfile -d '' -t entry <"$dir/$file"
        if ((${#entry[@]} < 2)) || [[ ! -f ${entry[1]} ]]; then
            _wmaic_err "swarm update: ${entry[1]:-$file} is gone, skipped"
            continue
        fi
        printf 'wmaic: swarm update: %s\n' "${entry[1]}"
        if ! (
            cd -- "${entry[0]}" 2>/dev/null || cd /
            unset _WMAIC_BACKGROUND
            WMAIC_STAGE=swarm-update-action exec "$BASH" "${entry[@]:1}"
        ); then
            _wmaic_err "swarm update: ${entry[1]} failed"
            status=1
        fi
    done
    return "$status"
}

# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

# The script that sourced the library (its full path), the arguments it was started with and the
# folder it started in: wmaic_exclusive_run, wmaic_register_for_swarm_updates and
# wmaic_run_in_background work on them. Sourced from anything other than a script file (a login
# shell, a script read from stdin), there is no script. Sourced again (wmaic_refresh_env does not
# do that, but a script may), the first values stay.
if [[ -z ${_WMAIC_SCRIPT+set} ]]; then
    _WMAIC_SCRIPT=""
    _WMAIC_SCRIPT_ARGS=()
    _WMAIC_START_DIR=$PWD
    if [[ ${BASH_SOURCE[-1]} == "$0" && -f $0 && ${#BASH_SOURCE[@]} -ge 2 ]]; then
        if [[ $0 == /* ]]; then
            _WMAIC_SCRIPT=$0
        else
            _WMAIC_SCRIPT="$PWD/$0"
        fi
        _WMAIC_SCRIPT_ARGS=("$@")
    fi
fi

_wmaic_load_env
