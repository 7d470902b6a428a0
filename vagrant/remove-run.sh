#!/usr/bin/env bash
# Removes what one run of the Vagrantfile left in libvirt, by the run's AMBIT_VAGRANT_PREFIX: its domains
# (with their disks), networks, and storage pool `<prefix>-pool` with its volumes and directory. For what
# `vagrant destroy` did not remove: an `up` cut short holds Vagrant's lock, and a killed run destroys nothing.
# Then lists what of the run still exists and fails if anything does. Touches no other run's names.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=vagrant/lib.sh
. "$here/lib.sh"
prefix="${1:?usage: remove-run.sh PREFIX}"
# A prefix names a run, never a pattern: an empty or short one would match other runs' names.
[[ "$prefix" =~ ^[a-z][a-z0-9]{3,}$ ]] || { log "not a run prefix: $prefix"; exit 2; }
pool="$prefix-pool"
virsh_() { virsh -c qemu:///system "$@"; }
# A run's names: the prefix, then `-` (domains <prefix>-node-N, networks <prefix>-mgmt/-mesh, the pool).
mine() { grep -E "^$prefix-" || true; }

for domain in $(virsh_ list --all --name 2>/dev/null | mine); do
  virsh_ destroy "$domain" >/dev/null 2>&1
  virsh_ undefine "$domain" --remove-all-storage >/dev/null 2>&1
done
for network in $(virsh_ net-list --all --name 2>/dev/null | mine); do
  virsh_ net-destroy "$network" >/dev/null 2>&1
  virsh_ net-undefine "$network" >/dev/null 2>&1
done
if virsh_ pool-info "$pool" >/dev/null 2>&1; then
  for volume in $(virsh_ vol-list "$pool" 2>/dev/null | tail -n +3 | awk '{print $1}'); do
    virsh_ vol-delete --pool "$pool" "$volume" >/dev/null 2>&1
  done
  virsh_ pool-destroy "$pool" >/dev/null 2>&1
  virsh_ pool-undefine "$pool" >/dev/null 2>&1
fi
rm -rf "${AMBIT_VAGRANT_CACHE:?}/pools/$pool"

left="$( (virsh_ list --all --name; virsh_ net-list --all --name; virsh_ pool-list --all --name) 2>/dev/null | mine)"
if [ -n "$left" ]; then
  log "run $prefix left in libvirt: $(echo "$left" | tr '\n' ' ')"
  exit 1
fi
