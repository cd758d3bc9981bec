#!/bin/sh
# Plays an ifupdown guest's first DHCP round with Debian's real /sbin/dhclient-script, inside
# throw-away network and mount namespaces (run it under `unshare -m -n`). Two veth NICs get the
# given MACs; each is handed a lease that offers a router and a name server, eth0 first as
# ifupdown does at boot (or the other way round). Then prints the routes, addresses and
# resolv.conf the guest ends with.
# usage: dhclient.sh PRIMARY_MAC SECONDARY_MAC [HOOK_FILE [secondary-first]]
set -eu
primary_mac=$1 secondary_mac=$2 hook=${3:-} order=${4:-primary-first}
work=$(mktemp -d)
mkdir -p "$work/etc"
cp -a /etc/dhcp "$work/etc/dhcp"
: > "$work/etc/resolv.conf"
: > "$work/etc/fstab"
if [ -n "$hook" ]; then cp "$hook" "$work/etc/dhcp/dhclient-enter-hooks.d/kubevirt-net-injector"; fi
mount -t sysfs sysfs /sys
mount --bind "$work/etc" /etc

nic() { # name mac
  ip link add "$1" type veth peer name "peer-$1"
  ip link set "$1" address "$2"
  ip link set "$1" up
  ip link set "peer-$1" up
}
lease() { # name net
  env reason=BOUND interface="$1" new_ip_address="$2.15" new_subnet_mask=255.255.255.0 \
    new_network_number="$2.0" new_broadcast_address="$2.255" new_routers="$2.2" \
    new_domain_name_servers="$2.3" new_domain_name="$1.example" /sbin/dhclient-script
}
ip link set lo up
nic eth0 "$primary_mac"
nic eth1 "$secondary_mac"
if [ "$order" = secondary-first ]; then
  lease eth1 10.0.3
  lease eth0 10.0.2
else
  lease eth0 10.0.2
  lease eth1 10.0.3
fi
echo '--- routes'
ip -4 route
echo '--- addresses'
ip -4 -o addr show scope global
echo '--- resolv.conf'
cat /etc/resolv.conf
