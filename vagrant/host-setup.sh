#!/usr/bin/env bash
# Prepares this Linux host to run the Vagrant VMs of vagrant/Vagrantfile with the libvirt provider, offline:
# installs Debian's vagrant, vagrant-libvirt, QEMU and libvirt, starts libvirt's daemons where no init system
# does, and records every change in $AMBIT_VAGRANT_STATE so that vagrant/host-teardown.sh undoes exactly that.
# Idempotent: a second run changes nothing that the first already did. Never starts libvirt's `default`
# network (it NATs VM traffic out of the machine).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=vagrant/lib.sh
. "$here/lib.sh"

mkdir -p "$AMBIT_VAGRANT_STATE"

# Packages: vagrant + its libvirt provider, QEMU (TCG or KVM), libvirt's daemons, and the box builder's tools.
pkgs=(vagrant vagrant-libvirt qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients dnsmasq-base
  debootstrap extlinux syslinux-common e2fsprogs fdisk rsync openssh-client tcpdump)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  printf '%s\n' "${missing[@]}" >>"$AMBIT_VAGRANT_STATE/installed-packages"
fi

# Without udev /dev/kvm stays root-only, and libvirt then re-probes QEMU's capabilities on every call (seconds
# each). Record the original owner and mode once so that teardown restores them.
if [ -c /dev/kvm ] && [ ! -f "$AMBIT_VAGRANT_STATE/kvm-mode" ]; then
  stat -c '%g %a' /dev/kvm >"$AMBIT_VAGRANT_STATE/kvm-mode"
  chgrp kvm /dev/kvm && chmod 660 /dev/kvm
fi

# The daemons: started by hand only where nothing runs them (no systemd here), remembered so teardown stops them.
start_daemon() { # name, pidfile
  local name="$1" pidfile="$2"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then return; fi
  log "starting $name"
  "$name" -d
  for _ in $(seq 1 50); do [ -f "$pidfile" ] && break; sleep 0.1; done
  echo "$name" >>"$AMBIT_VAGRANT_STATE/started-daemons"
}
if ! pidof systemd >/dev/null 2>&1; then
  # The chains libvirtd will make are ours to remove at teardown only if none was there before.
  if ! pidof libvirtd >/dev/null 2>&1 && [ -z "$(libvirt_chains)" ]; then
    touch "$AMBIT_VAGRANT_STATE/libvirt-chains"
  fi
  start_daemon virtlogd /run/virtlogd.pid
  start_daemon libvirtd /run/libvirtd.pid
fi
for _ in $(seq 1 100); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.2; done
virsh -c qemu:///system version >/dev/null

# libvirt's `default` network forwards and masquerades: it must never run for Ambit's VMs.
if virsh -c qemu:///system net-info default >/dev/null 2>&1; then
  virsh -c qemu:///system net-autostart default --disable >/dev/null 2>&1 || true
  if virsh -c qemu:///system net-info default | grep -q '^Active: *yes'; then
    virsh -c qemu:///system net-destroy default >/dev/null
  fi
fi
# Host firewall: libvirt names its bridges virbr<N>. Nothing from a VM bridge is forwarded anywhere, and of
# new traffic to the host's own sockets only DHCP (the management network's leases, which Vagrant reads to
# find its VMs) passes; replies to the host's own connections (Vagrant's SSH) pass as established.
for ipt in iptables ip6tables; do
  if ! "$ipt" -n -L "$AMBIT_VAGRANT_CHAIN" >/dev/null 2>&1; then
    "$ipt" -N "$AMBIT_VAGRANT_CHAIN"
    "$ipt" -A "$AMBIT_VAGRANT_CHAIN" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
    [ "$ipt" = iptables ] && "$ipt" -A "$AMBIT_VAGRANT_CHAIN" -p udp --dport 67 -j RETURN
    "$ipt" -A "$AMBIT_VAGRANT_CHAIN" -p tcp -j REJECT --reject-with tcp-reset
    "$ipt" -A "$AMBIT_VAGRANT_CHAIN" -j DROP
    echo "$ipt" >>"$AMBIT_VAGRANT_STATE/firewall"
  fi
  for rule in "${AMBIT_VAGRANT_RULES[@]}"; do
    # shellcheck disable=SC2086 # the rule is words
    "$ipt" -C $rule 2>/dev/null || "$ipt" -I $rule
  done
done

log "host ready ($(vm_accel) guests)"
