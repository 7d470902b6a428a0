#!/usr/bin/env bash
# Undoes what vagrant/host-setup.sh recorded: the firewall rules, the daemons it started, /dev/kvm's mode;
# with --purge also the packages it installed, the box and its cache. VMs and networks of a run are removed
# by that run (`vagrant destroy`, see test/vagrant); this refuses to stop libvirt while any domain exists.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=vagrant/lib.sh
. "$here/lib.sh"
purge=0
[ "${1:-}" = "--purge" ] && purge=1
state="$AMBIT_VAGRANT_STATE"
[ -d "$state" ] || { log "nothing recorded in $state"; exit 0; }

# Before anything changes: while a VM exists (another run's, or one left behind) its isolation rules and its
# daemons stay.
if [ -f "$state/started-daemons" ] || [ -f "$state/firewall" ]; then
  if [ -n "$(virsh -c qemu:///system list --all --name 2>/dev/null | grep -v '^$' || true)" ]; then
    log "libvirt still has domains (virsh list --all): destroy them first; nothing was changed"; exit 1
  fi
fi

if [ -f "$state/firewall" ]; then
  while read -r ipt; do
    for rule in "${AMBIT_VAGRANT_RULES[@]}"; do
      # shellcheck disable=SC2086 # the rule is words
      while "$ipt" -C $rule 2>/dev/null; do "$ipt" -D $rule; done
    done
    "$ipt" -F "$AMBIT_VAGRANT_CHAIN" 2>/dev/null && "$ipt" -X "$AMBIT_VAGRANT_CHAIN"
  done <"$state/firewall"
  rm "$state/firewall"
fi

if [ -f "$state/started-daemons" ]; then
  # Stopped in the reverse order of their start.
  tac "$state/started-daemons" | while read -r daemon; do
    pidfile="/run/$daemon.pid"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      pid="$(cat "$pidfile")"
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  done
  rm "$state/started-daemons"
fi

# Once libvirtd is stopped, the chains it made (absent before set-up) go, with the built-in chains' jumps to them.
if [ -f "$state/libvirt-chains" ] && ! pidof libvirtd >/dev/null 2>&1; then
  libvirt_chains | while read -r ipt table chain; do
    "$ipt" -t "$table" -S | grep -E "^-A [A-Z]+ .*-j $chain\$" | sed 's/^-A //' | while read -r rule; do
      # shellcheck disable=SC2086 # the rule is words
      "$ipt" -t "$table" -D $rule
    done
  done
  libvirt_chains | while read -r ipt table chain; do "$ipt" -t "$table" -F "$chain"; done
  libvirt_chains | while read -r ipt table chain; do "$ipt" -t "$table" -X "$chain"; done
  rm "$state/libvirt-chains"
fi

if [ -f "$state/kvm-mode" ]; then
  read -r gid mode <"$state/kvm-mode"
  chgrp "$gid" /dev/kvm && chmod "$mode" /dev/kvm
  rm "$state/kvm-mode"
fi

if [ "$purge" = 1 ]; then
  vagrant box remove --force --all "$AMBIT_VAGRANT_BOX" >/dev/null 2>&1 || true
  if [ -f "$state/installed-packages" ]; then
    # shellcheck disable=SC2046 # one package a line
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $(cat "$state/installed-packages") >/dev/null
  fi
  rm -rf "$AMBIT_VAGRANT_CACHE"
fi
log "host restored"
