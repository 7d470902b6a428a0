# Shared by the vagrant/ scripts: where state and the box live (outside the checkout), logging, and which
# accelerator the guests get.
AMBIT_VAGRANT_CACHE="${AMBIT_VAGRANT_CACHE:-/var/cache/ambit/vagrant}"
AMBIT_VAGRANT_STATE="${AMBIT_VAGRANT_STATE:-$AMBIT_VAGRANT_CACHE/host-state}"
AMBIT_VAGRANT_BOX="${AMBIT_VAGRANT_BOX:-ambit/bookworm-local}"
# The host's filter chain of our own for traffic from the VM bridges (removed whole by teardown).
AMBIT_VAGRANT_CHAIN=AMBIT-VAGRANT
export AMBIT_VAGRANT_CACHE AMBIT_VAGRANT_CHAIN AMBIT_VAGRANT_STATE AMBIT_VAGRANT_BOX
# The host's firewall rules (host-setup.sh inserts them, host-teardown.sh removes them), each inserted at the
# top of its chain in this order, so the last is checked first. Nothing is forwarded from or to a VM bridge;
# frames between two VMs on one bridge are switched, not routed, but with br_netfilter and
# bridge-nf-call-iptables set they pass FORWARD too, so they are let through first: they stay on that bridge.
AMBIT_VAGRANT_RULES=(
  "INPUT -i virbr+ -j $AMBIT_VAGRANT_CHAIN"
  "FORWARD -i virbr+ -j DROP"
  "FORWARD -o virbr+ -j DROP"
  "FORWARD -i virbr+ -o virbr+ -m physdev --physdev-is-bridged -j ACCEPT"
)

log() { echo "vagrant-host: $*" >&2; }

# libvirtd's network driver makes its own chains (LIBVIRT_INP, LIBVIRT_FWO, ..., LIBVIRT_PRT in nat and mangle)
# with jumps from the built-in chains, and leaves them when it stops. Prints "<command> <table> <chain>" for
# each one present, so that set-up can tell whether they were there before it started the daemon.
libvirt_chains() {
  local ipt table
  for ipt in iptables ip6tables; do
    for table in filter nat mangle; do
      "$ipt" -t "$table" -S 2>/dev/null | sed -n "s/^-N \(LIBVIRT_[A-Z]*\)$/$ipt $table \1/p"
    done
  done
}

# kvm where the host's /dev/kvm runs stock guest kernels; tcg (software emulation) where there is no /dev/kvm
# or it is PVM (kvm_pvm runs only guest kernels built for it: stock Debian kernels hang there).
vm_accel() {
  if [ -n "${AMBIT_VAGRANT_ACCEL:-}" ]; then echo "$AMBIT_VAGRANT_ACCEL"
  elif [ -c /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then echo kvm
  else echo tcg; fi
}
