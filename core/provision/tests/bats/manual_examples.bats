#!/usr/bin/env bats
# The manual's example scripts, retyped in fixtures/, run against the library: 6.6.3.2 (parallel
# execution), 6.7.1.1 (direct use of the variables), 6.7.1.2 (simple PaaS) and 6.7.3.1 (the
# swarm's nginx reverse proxy). Their absolute paths are moved into the test's root folder;
# package managers, services and docker are stand-ins that record how they were called.

# shellcheck disable=SC2016,SC2154 # code in single quotes runs in the library's shell; bats' run sets $stderr
load helpers

setup() {
    common_setup
    core_env "WMAIC_INSTANCE_ID='i-1'" "WMAIC_INSTANCE_NAME='deb8@FFM'" "WMAIC_INSTANCE_INDEX='2'" \
        "WMAIC_PUBLIC_HOSTNAME='ec2-52-29-219-165.eu-central-1.compute.amazonaws.com'" \
        "WMAIC_PRIVATE_IP4='10.0.0.1'" "WMAIC_STORAGE_MOUNT='/mnt/data1'"
    echo d9c1c6c0c437adca2c4b94f5db423b39 >"$ROOT/etc/wmaic/secret"
    # Stand-ins for yum, apt-get, chkconfig, service, systemctl, puppet and docker.
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    cat >"$BATS_TEST_TMPDIR/bin/stand-in" <<EOF2
#!/bin/bash
echo "\${0##*/} \$*" >>"$ROOT/calls.log"
# Installing MariaDB makes its configuration folder, as the real package does.
[[ "\${0##*/} \$*" == "yum -y install mariadb-server" ]] && mkdir -p "$ROOT/etc/my.cnf.d"
exit 0
EOF2
    chmod +x "$BATS_TEST_TMPDIR/bin/stand-in"
    local c
    for c in yum apt-get chkconfig service systemctl puppet docker; do
        ln -s stand-in "$BATS_TEST_TMPDIR/bin/$c"
    done
    export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
}

teardown() {
    [[ -z ${NS:-} ]] || ip netns del "$NS" 2>/dev/null || true
}

# until_true SECONDS COMMAND...: runs COMMAND until it succeeds, at most SECONDS.
until_true() {
    local limit=$1 i
    shift
    for ((i = 0; i < limit * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    fail "still false after $limit s: $*"
}

@test "6.6.3.2: the script returns at once and finishes in the background" {
    local path
    path=$(manual_script manual_6_6_3_2.sh)
    mkdir -p "$ROOT/tmp"
    SECONDS=0
    run "$path"
    [ "$status" -eq 0 ]
    [[ $output == *"goes on in the background"* ]]
    [ ! -e "$ROOT/tmp/uds-result" ]
    wait_for_file "$ROOT/tmp/uds-result"
    assert_eq "$(cat "$ROOT/tmp/uds-result")" "deb8@FFM finished in the background"
}

@test "6.7.1.1: a certificate for the public host name" {
    need_cmd openssl
    local path
    path=$(manual_script manual_6_7_1_1.sh)
    mkdir -p "$ROOT/tmp"
    run "$path"
    [ "$status" -eq 0 ]
    run openssl x509 -in "$ROOT/tmp/wmaic_cert.pem" -noout -subject -nameopt RFC2253
    assert_eq "$output" "subject=CN=ec2-52-29-219-165.eu-central-1.compute.amazonaws.com"
    openssl pkey -in "$ROOT/tmp/wmaic_key.pem" -noout
}

@test "6.7.1.1: eXit reports a failed certificate" {
    need_cmd openssl
    local path
    path=$(manual_script manual_6_7_1_1.sh)
    # No tmp folder: openssl cannot write the key.
    run --separate-stderr "$path"
    [ "$status" -eq 1 ]
    [[ $stderr == *"SSL cert creation failed" ]]
}

@test "6.7.1.2: every tag sets up its part, the template becomes the MariaDB configuration" {
    core_env "WMAIC_INSTANCE_ID='i-1'" "WMAIC_INSTANCE_NAME='db@lab'" "WMAIC_INSTANCE_INDEX='2'" \
        "WMAIC_INSTANCE_TAGS=('dbserver' 'webserver' 'wordpress' 'other')" \
        "WMAIC_PUBLIC_HOSTNAME='wp.example.test'" "WMAIC_PRIVATE_IP4='10.0.0.7'" "WMAIC_STORAGE_MOUNT='/mnt/data1'"
    mkdir -p "$ROOT/mnt/data1/templates"
    cp "$FIXTURES/mariadb-server.tmpl" "$ROOT/mnt/data1/templates/"
    local path fqdn
    path=$(manual_script manual_6_7_1_2.sh)
    run --separate-stderr "$path"
    [ "$status" -eq 0 ]
    assert_eq "$output" "Wordpress is ready for use, please connect to: http://wp.example.test"
    assert_eq "$(cat "$ROOT/calls.log")" "yum -y install mariadb-server
chkconfig mariadb on
service mariadb stop
service mariadb start
yum -y install puppet
puppet apply --environment cloud1 --catalog $ROOT/mnt/data1/puppet/webserver.json
yum -y install docker
chkconfig docker on
service docker start
docker run --name wmais-mysql -e MYSQL_ROOT_PASSWORD=d9c1c6c0c437adca2c4b94f5db423b39 -d mysql
docker run --name wmais-wordpress --link wmais-mysql:mysql -p 80:80 -d wordpress"
    fqdn=$(in_lib 'echo "$WMAIC_FQDN"')
    assert_eq "$(cat "$ROOT/etc/my.cnf.d/mariadb-server.cnf")" "# generated for $fqdn (instance db@lab, number 2)
[mysqld]
bind-address = 10.0.0.7
server-id = 2
datadir = /mnt/data1/mysql"
}

@test "6.7.1.2: an instance with only the webserver tag runs only that part" {
    core_env "WMAIC_INSTANCE_TAGS=('webserver')"
    run "$(manual_script manual_6_7_1_2.sh)"
    [ "$status" -eq 0 ]
    assert_eq "$output" ""
    assert_eq "$(cat "$ROOT/calls.log")" "yum -y install puppet
puppet apply --environment cloud1 --catalog $ROOT/mnt/data1/puppet/webserver.json"
}

# The nginx example of 6.7.3.1 in a network namespace of its own (it sets up the firewall).
nginx_setup() {
    need_root
    need_cmd ip iptables openssl
    NS="wmaic-nginx-$$-$BATS_TEST_NUMBER"
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    mkdir -p "$ROOT/mnt/data1"
    cp "$FIXTURES/nginx.tmpl" "$ROOT/mnt/data1/"
    core_env "WMAIC_INSTANCE_ID='i-1'" "WMAIC_INSTANCE_TAGS=('nginx')" \
        "WMAIC_PUBLIC_HOSTNAME='www.example.test'" "WMAIC_PRIVATE_IP4='10.0.0.1'"
    NGINX=$(manual_script manual_6_7_3_1.sh)
    CONF="$ROOT/usr/local/wmaic/nginx/conf.d/wmaic.conf"
}

# expected_conf UPSTREAM-LINES: the configuration the template gives.
expected_conf() {
    WMAIU_UPSTREAM_SERVERS=$1 in_lib 'wmaic_parse_template -i "$ROOT/mnt/data1/nginx.tmpl" -o "$ROOT/want.conf"'
    cat "$ROOT/want.conf"
    rm -f "$ROOT/want.conf"
}

calls_contain() {
    grep -qxF -- "$1" "$ROOT/calls.log" 2>/dev/null
}

@test "6.7.3.1: the swarm's nginx proxy is set up, then follows the swarm when a WordPress member joins" {
    nginx_setup
    swarm wp 3 "i-1|10.0.0.1|nginx" "i-2|10.0.0.2|wordpress" "i-3|10.0.0.3|mysql"
    run ip netns exec "$NS" "$NGINX" -c "$ROOT/mnt/data1/nginx.tmpl" -p 3000 -t wordpress
    [ "$status" -eq 0 ]
    [[ $output == *"goes on in the background"* ]]
    until_true 30 compgen -G "$ROOT/var/lib/wmaic/swarm-updates/*.cmd"

    assert_eq "$(cat "$CONF")" "$(expected_conf 'server 10.0.0.2:3000;')"
    run openssl x509 -in "$ROOT/usr/local/wmaic/nginx/ssl/wmaic_cert.pem" -noout -subject -nameopt RFC2253
    assert_eq "$output" "subject=CN=www.example.test"
    calls_contain "apt-get -q -y install docker.io openssl"
    calls_contain "systemctl enable docker.service"
    grep -q "^docker run --name wmaic_nginx --restart=always -d -p 80:80 -p 443:443 " "$ROOT/calls.log"
    run ip netns exec "$NS" iptables -S
    [[ $output == *"-A WMAIC_CLOAK -s 10.0.0.2/32 -j ACCEPT"*"-A WMAIC_CLOAK -s 10.0.0.3/32 -j ACCEPT"* ]]
    [[ $output == *"-A WMAIC_PORTS -p tcp -m tcp --dport 80 -j ACCEPT"*"-A WMAIC_PORTS -p tcp -m tcp --dport 443 -j ACCEPT"* ]]

    # A second WordPress instance joins: the core rewrites the members and runs the update.
    swarm wp 4 "i-1|10.0.0.1|nginx" "i-2|10.0.0.2|wordpress" "i-3|10.0.0.3|mysql" "i-4|10.0.0.4|wordpress"
    run ip netns exec "$NS" bash -c 'source "$ROOT/etc/profile.d/wmaic.sh"; _wmaic_core_swarm_update'
    [ "$status" -eq 0 ]
    until_true 30 calls_contain "docker exec wmaic_nginx service nginx reload"
    calls_contain "docker exec wmaic_nginx service nginx status"
    assert_eq "$(cat "$CONF")" "$(expected_conf $'server 10.0.0.2:3000;\nserver 10.0.0.4:3000;')"
    assert_eq "$(grep -c '^docker run' "$ROOT/calls.log")" "1"
    run ip netns exec "$NS" iptables -S WMAIC_CLOAK
    [[ $output == *"-A WMAIC_CLOAK -s 10.0.0.4/32 -j ACCEPT"* ]]
}

@test "6.7.3.1: a standalone nginx proxies to its own port and lets no other instance in" {
    nginx_setup
    run ip netns exec "$NS" "$NGINX" -c "$ROOT/mnt/data1/nginx.tmpl" -p 8080
    [ "$status" -eq 0 ]
    until_true 30 compgen -G "$ROOT/var/lib/wmaic/swarm-updates/*.cmd"
    assert_eq "$(cat "$CONF")" "$(expected_conf 'server 127.0.0.1:8080;')"
    run ip netns exec "$NS" iptables -S WMAIC_CLOAK
    [[ $output != *"-s "* ]]
    [[ $output == *"-A WMAIC_CLOAK -j DROP"* ]]
}
