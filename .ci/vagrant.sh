#!/usr/bin/env bash
# CI's Vagrant step (after the main suite): two VMs, one Ambit mesh across them (npm run test:vagrant).
# Host set-up here, the box from its cache or built when missing, the test bounded by `timeout`; on any exit
# the run's VMs, networks and pool are removed and the host set-up undone, and what is left is checked: the
# step fails loudly if anything of it remains. Budget (README "Vagrant"): AMBIT_CI_VAGRANT_MINUTES.
set -euo pipefail
cd "$(dirname "$0")/.."
export CI="${CI:-true}"
minutes="${AMBIT_CI_VAGRANT_MINUTES:-40}"
# The run's names, chosen here so that the clean-up below finds its VMs even when the test was killed.
AMBIT_VAGRANT_PREFIX="avci$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
export AMBIT_VAGRANT_PREFIX

# The test's scratch (Vagrant's dotfiles and SSH keys, captures): removed here even if the test was killed.
TMPDIR="$(mktemp -d /tmp/ambit-ci-vagrant.XXXXXX)"
export TMPDIR

current=""
phase_started=$SECONDS
# Ends the current phase (its wall time printed) and names the next one.
phase() {
  [ -z "$current" ] || echo "ci-vagrant: $current took $((SECONDS - phase_started)) s"
  current="$1"
  phase_started=$SECONDS
}

# shellcheck source=vagrant/lib.sh
. vagrant/lib.sh
# What the host-teardown must give back: the firewall chain, libvirt's daemon and its chains, there or not, as now.
host_state() {
  echo "chain $(iptables -n -L "$AMBIT_VAGRANT_CHAIN" >/dev/null 2>&1 && echo yes || echo no)"
  echo "libvirtd $(pidof libvirtd >/dev/null 2>&1 && echo yes || echo no)"
  echo "libvirt-chains $(libvirt_chains | wc -l)"
}
host_before="$(host_state)"

clean_up() {
  local status=$? failed=0 ended="$current"
  trap - EXIT
  phase "clean-up"
  bash vagrant/remove-run.sh "$AMBIT_VAGRANT_PREFIX" || failed=1
  bash vagrant/host-teardown.sh || failed=1
  if [ "$(host_state)" != "$host_before" ]; then
    echo "ci-vagrant: the host is not as it was: $(host_state | tr '\n' ' ')(before: $(echo "$host_before" | tr '\n' ' '))" >&2
    failed=1
  fi
  rm -rf "$TMPDIR"
  phase "done"
  if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
    echo "ci-vagrant: FAILED (exit $status in $ended; clean-up $([ "$failed" = 0 ] && echo ok || echo failed))" >&2
    exit 1
  fi
}
trap clean_up EXIT

phase "host set-up"
bash vagrant/host-setup.sh
phase "box"
bash vagrant/build-box.sh
phase "test (limit ${minutes} min)"
# The test's own phases (up, span, destroy) are in its "vagrant timings" line. --kill-after: a vitest that
# ignores the TERM is killed; the clean-up above then removes its VMs.
timeout --kill-after=60s "${minutes}m" npm run test:vagrant
