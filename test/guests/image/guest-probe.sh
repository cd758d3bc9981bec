#!/bin/sh
# Read-back probe of the guest-boot tests (test/guests). Runs once after cloud-init's
# final stage, prints what the guest actually did between markers on the second
# serial port (/dev/ttyS1, a file on the host) and powers the guest off.
# Kernel command line knobs: guest.marker=<path> (file the user data writes),
# guest.settle=<seconds> (wait for the network stack after cloud-init is done).
marker=/var/lib/guest-marker
settle=10
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    guest.marker=*) marker="${arg#guest.marker=}" ;;
    guest.settle=*) settle="${arg#guest.settle=}" ;;
  esac
done
out=/dev/ttyS1
[ -c "$out" ] || out=/dev/console

timeout 600 cloud-init status --wait >/dev/null 2>&1
sleep "$settle"

section() { echo "@@probe:$1@@"; }
{
  echo '@@probe:begin@@'
  section addr4; ip -4 -o addr show
  section route4; ip -4 route show
  section route6; ip -6 route show
  section resolv; cat /etc/resolv.conf 2>&1
  section resolvectl
  if systemctl -q is-active systemd-resolved 2>/dev/null; then resolvectl dns 2>&1; fi
  section links
  for dev in /sys/class/net/*; do echo "$(basename "$dev") $(cat "$dev/address")"; done
  section cloudinit; cloud-init status --long 2>&1
  section marker
  if [ -e "$marker" ]; then echo "present"; cat "$marker"; else echo "absent"; fi
  section stack
  for unit in NetworkManager systemd-networkd systemd-resolved networking; do
    echo "$unit $(systemctl is-active "$unit" 2>/dev/null)"
  done
  section journal-errors
  journalctl -b -p err --no-pager -q 2>&1 | tail -n 40
  echo '@@probe:end@@'
} >"$out" 2>&1
sync
systemctl --no-block poweroff
