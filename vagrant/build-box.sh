#!/usr/bin/env bash
# Builds the Vagrant box the VMs boot, offline from the configured Debian mirror, and adds it to Vagrant:
# a debootstrap (minbase) of Debian bookworm with systemd, the stock kernel, extlinux, an SSH server that
# makes only ed25519/ecdsa host keys at first boot (RSA keygen takes minutes under software emulation), the
# tools Ambit drives (iproute2, iptables, nftables, tcpdump, ...), Vagrant's insecure key for the first login,
# e2scrub/apt timers masked (their first-boot runs cost minutes under TCG), and the checkout's node_modules
# (the pinned Node 24 included) at /ambit, where the Vagrantfile's rsync then finds it in place. The box is
# cached under $AMBIT_VAGRANT_CACHE (outside the checkout), named by a hash of what goes into it (this
# script, the rsync excludes, package-lock.json), and rebuilt only when that changes, or with --force.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# The image's mounts in a mount namespace of its own: a namespace made elsewhere while they exist (any
# `unshare -m`, a netns test's process) copies them, keeps the file system mounted after our umount, and the
# image is then packed unflushed (a box that boots without half of what was written into it).
if [ -z "${AMBIT_BOX_MOUNT_NS:-}" ]; then
  AMBIT_BOX_MOUNT_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
# shellcheck source=vagrant/lib.sh
. "$here/lib.sh"

force=0
[ "${1:-}" = "--force" ] && force=1
checkout="$(cd "$here/.." && pwd)"
[ -x "$checkout/node_modules/node/bin/node" ] ||
  { log "no node_modules in $checkout: run \`npm ci\` there first (the box carries it into the VMs)"; exit 1; }
key="$(cat "$here/build-box.sh" "$here/rsync-excludes" "$checkout/package-lock.json" | sha256sum | cut -c1-16)"
box_file="$AMBIT_VAGRANT_CACHE/ambit-bookworm-$key.box"
# Which box file Vagrant holds as $AMBIT_VAGRANT_BOX (one name: a rebuilt box replaces the one before).
added_file="$AMBIT_VAGRANT_CACHE/added-box"
suite=bookworm
packages=systemd-sysv,dbus,linux-image-amd64,openssh-server,sudo,rsync,iproute2,iptables,nftables,tcpdump,procps,kmod,curl,ca-certificates

add_box() {
  if ! vagrant box list 2>/dev/null | grep -q "^$AMBIT_VAGRANT_BOX " || [ "$(cat "$added_file" 2>/dev/null)" != "$box_file" ]; then
    vagrant box add --force --name "$AMBIT_VAGRANT_BOX" "$box_file" >/dev/null
    echo "$box_file" >"$added_file"
  fi
}

mkdir -p "$AMBIT_VAGRANT_CACHE"
if [ "$force" = 0 ] && [ -f "$box_file" ]; then
  add_box
  log "box $AMBIT_VAGRANT_BOX ready ($box_file)"
  exit 0
fi

# The mirror this machine's apt already uses (the only Debian archive it may reach).
mirror="$(apt-get indextargets --format '$(REPO_URI)' 'Created-By: Packages' 2>/dev/null |
  grep -v -e security -e updates | grep -m1 debian || true)"
mirror="${mirror:-http://deb.debian.org/debian/}"

work="$(mktemp -d "$AMBIT_VAGRANT_CACHE/build.XXXXXX")"
loop=""
cleanup() {
  set +e
  mountpoint -q "$work/root/dev" && umount "$work/root/dev"
  mountpoint -q "$work/root/proc" && umount "$work/root/proc"
  mountpoint -q "$work/root/sys" && umount "$work/root/sys"
  mountpoint -q "$work/root" && umount "$work/root"
  [ -n "$loop" ] && losetup -d "$loop"
  rm -rf "$work"
}
trap cleanup EXIT

log "debootstrap $suite from $mirror"
raw="$work/disk.raw"
truncate -s 4G "$raw"
# One partition from 1 MiB on, reached through a loop device at that offset (no udev here to make loop0p1).
echo 'start=2048, type=83, bootable' | sfdisk -q "$raw"
loop="$(losetup --show -f -o $((2048 * 512)) "$raw")"
mkfs.ext4 -q -L ambit-root "$loop"
uuid="$(blkid -s UUID -o value "$loop")"
mkdir "$work/root"
mount "$loop" "$work/root"
debootstrap --variant=minbase --include="$packages" "$suite" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }

root="$work/root"
mount --bind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
echo ambit-vm >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tambit-vm\n' >"$root/etc/hosts"
echo "UUID=$uuid / ext4 errors=remount-ro 0 1" >"$root/etc/fstab"

# Boot: extlinux on the ext4 root, serial console, classic interface names (eth0 management, eth1 the mesh).
extlinux --install "$root/boot" 2>/dev/null
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$raw" bs=440 count=1 conv=notrunc status=none
kernel="$(cd "$root/boot" && ls vmlinuz-* | sort -V | tail -n1)"
cat >"$root/boot/extlinux.conf" <<CONF
default ambit
timeout 0
label ambit
  kernel /boot/$kernel
  append initrd=/boot/initrd.img-${kernel#vmlinuz-} root=UUID=$uuid ro console=ttyS0 net.ifnames=0 biosdevname=0 quiet
CONF

# Network: DHCP on the management NIC only; the mesh NIC (eth1) is left to Ambit.
mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n\n[DHCPv4]\nClientIdentifier=mac\n' \
  >"$root/etc/systemd/network/10-eth0.network"
chroot "$root" systemctl enable systemd-networkd >/dev/null 2>&1

# SSH: only fast host keys, made at first boot so that VMs do not share them.
rm -f "$root"/etc/ssh/ssh_host_*
printf 'HostKey /etc/ssh/ssh_host_ed25519_key\nHostKey /etc/ssh/ssh_host_ecdsa_key\nUseDNS no\n' \
  >"$root/etc/ssh/sshd_config.d/ambit.conf"
cat >"$root/etc/systemd/system/ambit-host-keys.service" <<'UNIT'
[Unit]
Description=SSH host keys (ed25519, ecdsa) on first boot
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
ExecStart=/usr/bin/ssh-keygen -q -t ecdsa -N "" -f /etc/ssh/ssh_host_ecdsa_key

[Install]
WantedBy=multi-user.target
UNIT
chroot "$root" systemctl enable ambit-host-keys.service >/dev/null 2>&1
for unit in e2scrub_all.timer e2scrub_all.service e2scrub_reap.service apt-daily.timer apt-daily-upgrade.timer \
  apt-daily.service apt-daily-upgrade.service fstrim.timer systemd-timesyncd.service; do
  chroot "$root" systemctl mask "$unit" >/dev/null 2>&1
done

# The vagrant user: password-less sudo and Vagrant's insecure key (Vagrant replaces it at the first login).
insecure_key="$(find /usr/share /usr/lib -path '*vagrant*/keys/vagrant.pub' 2>/dev/null | head -n1)"
[ -n "$insecure_key" ] || { log "Vagrant's insecure public key not found (is vagrant installed?)"; exit 1; }
chroot "$root" useradd -m -s /bin/bash vagrant
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/vagrant"
chmod 440 "$root/etc/sudoers.d/vagrant"
install -d -m 700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
install -m 600 -o 1000 -g 1000 "$insecure_key" "$root/home/vagrant/.ssh/authorized_keys"
# The checkout's node_modules as the Vagrantfile's rsync would carry it, owned by the user it syncs as.
rsync --archive --hard-links --exclude-from="$here/rsync-excludes" --include=/node_modules/ --include='/node_modules/**' \
  --exclude='*' "$checkout/" "$root/ambit/"
chown -R 1000:1000 "$root/ambit"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
# Every VM makes its own machine id at first boot. D-Bus's copy from debootstrap must go too: systemd would
# adopt it, and VMs sharing one id send one DHCP client id, so that only one of them ever gets a lease.
: >"$root/etc/machine-id"
ln -sf /etc/machine-id "$root/var/lib/dbus/machine-id"

umount "$root/dev" "$root/proc" "$root/sys"
umount "$root"
# Proof that the file system was unmounted whole (clean, journal empty) before it is packed.
e2fsck -fn "$loop" >"$work/e2fsck.log" 2>&1 || { log "the image's file system is not clean:"; cat "$work/e2fsck.log" >&2; exit 1; }
losetup -d "$loop"
loop=""

log "packing the box"
mkdir "$work/box"
qemu-img convert -c -O qcow2 "$raw" "$work/box/box.img"
echo '{"provider":"libvirt","format":"qcow2","virtual_size":4}' >"$work/box/metadata.json"
printf "Vagrant.configure('2') do |config|\n  config.vm.provider :libvirt do |lv|\n    lv.driver = 'qemu'\n  end\nend\n" \
  >"$work/box/Vagrantfile"
tar -C "$work/box" -cf "$work/ambit-bookworm.box" metadata.json Vagrantfile box.img
rm -f "$AMBIT_VAGRANT_CACHE"/ambit-bookworm*.box  # the boxes of other inputs
mv "$work/ambit-bookworm.box" "$box_file"
add_box
log "box $AMBIT_VAGRANT_BOX built: $box_file ($(du -h "$box_file" | cut -f1))"
