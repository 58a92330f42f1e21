#!/bin/sh
# Runs once, as PID 1, in the image builder's own boot of a new image (kernel and initrd given
# to QEMU directly): installs the EXTLINUX boot loader into the root file system, which is the
# whole disk, so the image then boots by itself, with its own kernel. Says so on the console and
# powers off.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
if extlinux --install /boot/extlinux; then
	echo "WINTERMUTE-IMAGE-FINISH: OK"
else
	echo "WINTERMUTE-IMAGE-FINISH: FAILED"
fi
sync
mount -o remount,ro / || true
sync
echo o >/proc/sysrq-trigger
sleep 60
