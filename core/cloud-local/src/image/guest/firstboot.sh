#!/bin/sh
# wintermute-firstboot: makes a clone of the Wintermute Debian image an instance of its own.
#
# Runs at every boot (wintermute-firstboot.service, before sshd and the network), reading what
# the local provider hands over through QEMU's fw_cfg, one file per item under
# /sys/firmware/qemu_fw_cfg/by_name/opt/wintermute/<item>/raw:
#
#   instance-id       the instance's id; when it differs from the one recorded in
#                     /var/lib/wintermute/instance-id, this is a new clone: new SSH host key
#                     (Ed25519 only: RSA takes ~12 s under emulation), new machine id, and the
#                     authorized_keys below are installed for the login user
#   hostname          the host name
#   authorized-keys   public keys (OpenSSH format) for the login user; never a private key
#   login-user        the login user (default: debian)
#   private-mac       MAC address of the NIC on the provider's private network
#   private-address   its static address, CIDR form (e.g. 10.77.0.10/24)
#   user-data         the launch's user data, when it has some: handed over, not acted on yet
#
# Without the instance-id item (the image booted by something else) it changes nothing.
set -eu

META=/sys/firmware/qemu_fw_cfg/by_name/opt/wintermute
STATE=/var/lib/wintermute

modprobe qemu_fw_cfg 2>/dev/null || true

get() {
	if [ -r "$META/$1/raw" ]; then cat "$META/$1/raw"; fi
}

id="$(get instance-id)"
if [ -z "$id" ]; then
	echo "wintermute-firstboot: no instance metadata in fw_cfg, nothing to do"
	exit 0
fi

mkdir -p "$STATE"
chmod 700 "$STATE"
previous="$(cat "$STATE/instance-id" 2>/dev/null || true)"

if [ "$previous" != "$id" ]; then
	echo "wintermute-firstboot: first boot of instance $id"

	rm -f /etc/ssh/ssh_host_*
	ssh-keygen -q -t ed25519 -N '' -C "root@$id" -f /etc/ssh/ssh_host_ed25519_key

	# The image ships an empty machine id, so systemd made a fresh one for this boot: keep it.
	# A machine id already on disk came from another instance: replace it.
	if mountpoint -q /etc/machine-id; then
		systemd-machine-id-setup --commit
	elif [ -n "$previous" ] || [ ! -s /etc/machine-id ]; then
		rm -f /etc/machine-id
		systemd-machine-id-setup
	fi

	user="$(get login-user)"
	user="${user:-debian}"
	home="$(getent passwd "$user" | cut -d: -f6)"
	if [ -n "$home" ]; then
		install -d -m 700 -o "$user" -g "$user" "$home/.ssh"
		get authorized-keys >"$home/.ssh/authorized_keys.new"
		chown "$user:$user" "$home/.ssh/authorized_keys.new"
		chmod 600 "$home/.ssh/authorized_keys.new"
		mv "$home/.ssh/authorized_keys.new" "$home/.ssh/authorized_keys"
	else
		echo "wintermute-firstboot: no user $user, no keys installed" >&2
	fi
fi

name="$(get hostname)"
if [ -n "$name" ]; then
	echo "$name" >/etc/hostname
	hostname "$name"
	if grep -q '^127\.0\.1\.1' /etc/hosts; then
		sed -i "s/^127\.0\.1\.1.*/127.0.1.1\t$name/" /etc/hosts
	else
		printf '127.0.1.1\t%s\n' "$name" >>/etc/hosts
	fi
fi

# The private network: a static address on the NIC with this MAC (systemd-networkd, which
# starts after this unit, brings it up; the other NIC takes QEMU's DHCP).
mac="$(get private-mac)"
addr="$(get private-address)"
net=/etc/systemd/network/10-wintermute-private.network
if [ -n "$mac" ] && [ -n "$addr" ]; then
	cat >"$net.new" <<NET
# Written at boot by wintermute-firstboot from the provider's metadata.
[Match]
MACAddress=$mac

[Network]
Address=$addr
LinkLocalAddressing=no
IPv6AcceptRA=no
NET
	mv "$net.new" "$net"
else
	rm -f "$net"
fi

echo "$id" >"$STATE/instance-id.new"
mv "$STATE/instance-id.new" "$STATE/instance-id"
echo "wintermute-firstboot: instance $id ready"
