# Shared by the vagrant/ scripts: where state and the box live (outside the checkout), logging, and which
# accelerator the guests get.
AMBIT_VAGRANT_CACHE="${AMBIT_VAGRANT_CACHE:-/var/cache/ambit/vagrant}"
AMBIT_VAGRANT_STATE="${AMBIT_VAGRANT_STATE:-$AMBIT_VAGRANT_CACHE/host-state}"
AMBIT_VAGRANT_BOX="${AMBIT_VAGRANT_BOX:-ambit/bookworm-local}"
# The host's filter chain of our own for traffic from the VM bridges (removed whole by teardown).
AMBIT_VAGRANT_CHAIN=AMBIT-VAGRANT
export AMBIT_VAGRANT_CACHE AMBIT_VAGRANT_CHAIN AMBIT_VAGRANT_STATE AMBIT_VAGRANT_BOX

log() { echo "vagrant-host: $*" >&2; }

# kvm where the host's /dev/kvm runs stock guest kernels; tcg (software emulation) where there is no /dev/kvm
# or it is PVM (kvm_pvm runs only guest kernels built for it: stock Debian kernels hang there).
vm_accel() {
  if [ -n "${AMBIT_VAGRANT_ACCEL:-}" ]; then echo "$AMBIT_VAGRANT_ACCEL"
  elif [ -c /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then echo kvm
  else echo tcg; fi
}
