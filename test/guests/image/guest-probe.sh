#!/bin/sh
# Read-back probe of the guest-boot tests (test/guests). Runs once after cloud-init's
# final stage, prints what the guest actually did between markers on the second
# serial port (/dev/ttyS1, a file on the host) and powers the guest off. It runs on every
# boot and counts its runs on the disk, so a test knows which boot of the disk it reads.
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

# One cloud-init command (each costs ~10 s of CPU under TCG): wait until it is done (the unit
# is ordered after its final stage already) and keep the long status for the report.
cistatus=$(timeout 600 cloud-init status --wait --long 2>&1)
sleep "$settle"
runs=$(( $(cat /var/lib/guest-probe-runs 2>/dev/null || echo 0) + 1 ))
echo "$runs" >/var/lib/guest-probe-runs

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
  section cloudinit; echo "$cistatus"
  section marker
  if [ -e "$marker" ]; then echo "present"; cat "$marker"; else echo "absent"; fi
  section marker-age  # the marker's mtime and this boot's start, seconds since the epoch
  echo "$(stat -c %Y "$marker" 2>/dev/null || echo x) $(awk '/^btime/ {print $2}' /proc/stat)"
  section probe-runs; echo "$runs"
  section nm-active
  if systemctl -q is-active NetworkManager 2>/dev/null; then nmcli -t -f NAME,DEVICE connection show --active 2>&1; fi
  section nm-profiles  # id|priority|interface-name|mac|v4 never-default|v4 ignore-auto-dns|v6 never-default|v6 ignore-auto-dns
  if systemctl -q is-active NetworkManager 2>/dev/null; then
    for u in $(nmcli -g UUID connection show); do
      nmcli -g connection.id,connection.autoconnect-priority,connection.interface-name,802-3-ethernet.mac-address,ipv4.never-default,ipv4.ignore-auto-dns,ipv6.never-default,ipv6.ignore-auto-dns \
        connection show "$u" 2>/dev/null | tr -d '\134' | paste -sd '|'
    done
  fi
  section nm-dns  # the name servers NetworkManager holds per link
  if systemctl -q is-active NetworkManager 2>/dev/null; then nmcli -t -f GENERAL.DEVICE,IP4.DNS,IP6.DNS device show 2>&1; fi
  section networkd-files
  if systemctl -q is-active systemd-networkd 2>/dev/null; then
    for dev in /sys/class/net/*; do
      d=$(basename "$dev"); [ "$d" = lo ] && continue
      echo "$d $(networkctl status "$d" 2>/dev/null | awk '/Network File:/ {print $3}')"
    done
  fi
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
