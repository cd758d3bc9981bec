#!/usr/bin/env bash
# Builds the Debian guest images of `make test-guests`: Debian 12 (bookworm, cloud-init 22.4)
# and Debian 13 (trixie, cloud-init 25.1), one image per network stack:
#   nm        NetworkManager                 (cloud-init renderer network-manager)
#   networkd  systemd-networkd + resolved    (cloud-init renderer networkd)
#   netplan   netplan.io -> systemd-networkd (cloud-init renderer netplan)
#   ifupdown  ifupdown + its DHCP client     (cloud-init renderer eni): isc-dhcp-client on
#             bookworm; on trixie dhcpcd-base, which its cloud-init and ifupdown pull in
# Output per image in .cache/guests/<suite>/<stack>/: rootfs.raw (ext4, no partition
# table), vmlinuz, initrd.img and a stamp holding the hash of the recipe; an image whose
# stamp matches is skipped. The stacks of a suite share one base tree; every suite shares
# one .deb cache. `<suite>/cloudinit-root` is that suite's base tree unpacked: the renderer
# tests (test/cloudinit) run the suite's cloud-init in it with chroot.
# Usage: test/guests/build-images.sh [suite/stack | suite/cloudinit-root | suite ...]
#        (default: every stack of both suites)
set -euo pipefail
cd "$(dirname "$0")/../.."
here=test/guests
cache="${GUEST_CACHE:-$PWD/.cache/guests}"
all_suites=(bookworm trixie)
all_stacks=(nm networkd netplan ifupdown)
targets=()
for arg in "${@:-${all_suites[@]}}"; do
  case "$arg" in
    */*) targets+=("$arg") ;;
    *) for stack in "${all_stacks[@]}"; do targets+=("$arg/$stack"); done ;;
  esac
done

base_packages=(systemd-sysv udev kmod linux-image-cloud-amd64 initramfs-tools cloud-init iproute2 procps)
stack_packages() { # $1: suite, $2: stack
  case "$2" in
    nm) echo network-manager ;;
    networkd) echo systemd-resolved ;;
    netplan) echo netplan.io systemd-resolved ;;
    ifupdown) if [[ $1 == bookworm ]]; then echo ifupdown isc-dhcp-client; else echo ifupdown dhcpcd-base; fi ;;
    *) echo "unknown stack: $2 (known: ${all_stacks[*]})" >&2; return 1 ;;
  esac
}
stack_renderer() {
  case "$1" in
    nm) echo network-manager ;; networkd) echo networkd ;; netplan) echo netplan ;; ifupdown) echo eni ;;
  esac
}

# Debian's package mirror: the one apt on this machine uses.
mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}
         /^deb / {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/ && $i ~ /\/debian\/?$/) {print $i; exit}}')
  echo "${uri:-http://deb.debian.org/debian}"
}

for tool in debootstrap mkfs.ext4 chroot; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install debootstrap e2fsprogs (see hack/packages/guests.txt)" >&2; exit 1; }
done
((EUID == 0)) || { echo "build-images.sh needs root (debootstrap, chroot)" >&2; exit 1; }

# The recipe of a base tree is the code that builds it and its package list; a stack's
# recipe adds its own code, packages and the files put into the image.
recipe_hash() { # $1: suite, $2: stack or "base"
  {
    echo "$1 $MIRROR ${base_packages[*]}"
    declare -f build_base apt_sources in_chroot
    if [[ $2 != base ]]; then
      stack_packages "$1" "$2"
      declare -f build_stack configure_stack stack_renderer
      cat "$here"/image/*
    fi
  } | sha256sum | cut -c1-16
}

mkdir -p "$cache/debs/partial" "$cache/work"
MIRROR=$(mirror)
NICE=(nice -n 10)

# One build at a time per cache; and no mount left over from a killed build, so that
# removing a stale tree never reaches through a bind mount into the shared .deb cache.
exec 9>"$cache/.lock"
flock 9
for tree in "$cache"/work/*/; do
  umount -l "${tree}var/cache/apt/archives" "${tree}proc" 2>/dev/null || true
done

mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
  mounts=()
}
trap cleanup EXIT

in_chroot() { # $1: root; rest: command
  local root=$1; shift
  mount -t proc proc "$root/proc"; mounts+=("$root/proc")
  mount --bind "$cache/debs" "$root/var/cache/apt/archives"; mounts+=("$root/var/cache/apt/archives")
  local rc=0
  LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "${NICE[@]}" chroot "$root" "$@" || rc=$?
  cleanup
  return $rc
}

apt_sources() { # $1: root, $2: suite
  cat >"$1/etc/apt/sources.list" <<SRC
deb $MIRROR $2 main
deb $MIRROR $2-updates main
SRC
  cat >"$1/etc/apt/apt.conf.d/90guest" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
APT
  cat >"$1/etc/dpkg/dpkg.cfg.d/90guest-nodoc" <<'DPKG'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
DPKG
  # no daemons started inside the chroot
  printf '#!/bin/sh\nexit 101\n' >"$1/usr/sbin/policy-rc.d"
  chmod 755 "$1/usr/sbin/policy-rc.d"
}

build_base() { # $1: suite
  local suite=$1 hash stamp="$cache/$1/base.stamp" tree="$cache/work/$1-base" log="$cache/work/$1-base"
  hash=$(recipe_hash "$suite" base)
  if [[ -f $cache/$suite/base.tar && -f $stamp && $(cat "$stamp") == "$hash" ]]; then
    echo "$suite base: up to date ($hash)"
    return
  fi
  echo "$suite base: debootstrap from $MIRROR"
  mkdir -p "$cache/$suite"
  rm -rf "$tree" "$cache/$suite/base.tar" "$stamp"
  "${NICE[@]}" debootstrap --variant=minbase --cache-dir="$cache/debs" "$suite" "$tree" "$MIRROR" \
    >"$log.debootstrap.log" 2>&1 || { tail -n 30 "$log.debootstrap.log" >&2; exit 1; }
  apt_sources "$tree" "$suite"
  echo "$suite base: installing ${base_packages[*]}"
  in_chroot "$tree" apt-get update -qq
  in_chroot "$tree" apt-get install -y -qq "${base_packages[@]}" >"$log.apt.log" 2>&1 ||
    { tail -n 30 "$log.apt.log" >&2; exit 1; }
  # cloud-init's locale module wants LANG=en_US.UTF-8 (Debian's default): generate it
  # here as a Debian cloud image has it, so the guest has nothing to regenerate.
  sed -i 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' "$tree/etc/locale.gen"
  in_chroot "$tree" locale-gen >/dev/null
  echo 'LANG=en_US.UTF-8' >"$tree/etc/default/locale"
  rm -rf "$tree"/usr/share/doc/* "$tree"/usr/share/man/* "$tree"/usr/share/info/*
  rm -rf "$tree"/var/lib/apt/lists/* "$tree"/var/cache/apt/*.bin "$tree"/var/cache/apt/archives/*.deb
  find "$tree/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  tar -C "$tree" -cf "$cache/$suite/base.tar" --numeric-owner --xattrs .
  rm -rf "$tree"
  echo "$hash" >"$stamp"
}

# The base tree unpacked, for `chroot <root> cloud-init devel net-convert` (test/cloudinit).
build_cloudinit_root() { # $1: suite
  local suite=$1 out="$cache/$1/cloudinit-root" hash
  hash=$(recipe_hash "$suite" base)
  if [[ -f $out.stamp && $(cat "$out.stamp") == "$hash" && -x $out/usr/bin/cloud-init ]]; then
    echo "$suite cloudinit-root: up to date ($hash)"
    return
  fi
  rm -rf "$out" "$out.stamp"
  mkdir -p "$out"
  tar -C "$out" -xf "$cache/$suite/base.tar" --numeric-owner --xattrs
  echo "$hash" >"$out.stamp"
  echo "$suite cloudinit-root: cloud-init $(chroot "$out" cloud-init --version 2>&1 | awk '{print $NF}')"
}

configure_stack() { # $1: stack, $2: root
  local stack=$1 root=$2
  echo "guest-$stack" >"$root/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 guest-%s\n' "$stack" >"$root/etc/hosts"
  echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' >"$root/etc/fstab"
  : >"$root/etc/machine-id"
  rm -f "$root/var/lib/dbus/machine-id"
  install -m 0755 "$here/image/guest-probe.sh" "$root/usr/local/sbin/guest-probe"
  install -m 0644 "$here/image/guest-probe.service" "$root/etc/systemd/system/guest-probe.service"
  mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
  ln -sf /etc/systemd/system/guest-probe.service "$root/etc/systemd/system/multi-user.target.wants/"
  cat >"$root/etc/cloud/cloud.cfg.d/90-guest-test.cfg" <<CFG
# test/guests: only the NoCloud seed, and exactly one network stack renders. The root is a
# bare ext4 device without sshd: nothing to grow, no host keys to make (each a warning).
datasource_list: [NoCloud]
system_info:
  network:
    renderers: ['$(stack_renderer "$stack")']
resize_rootfs: false
growpart: {mode: 'off'}
ssh_genkeytypes: []
CFG
  # A small initramfs: the cloud kernel has ext4 built in, and virtio_pci (built in on
  # trixie) and virtio_blk are the modules the root needs; under TCG every module unpacked
  # and probed costs seconds.
  echo 'MODULES=list' >"$root/etc/initramfs-tools/conf.d/90-guest.conf"
  printf 'virtio_pci\nvirtio_blk\n' >>"$root/etc/initramfs-tools/modules"
  local unit
  mask() { for unit; do ln -sf /dev/null "$root/etc/systemd/system/$unit"; done; }
  enable() { # $1: unit, $2: target
    mkdir -p "$root/etc/systemd/system/$2.wants"
    ln -sf "/lib/systemd/system/$1" "$root/etc/systemd/system/$2.wants/$1"
  }
  case "$stack" in
    nm)
      mask systemd-networkd.service systemd-networkd.socket systemd-networkd-wait-online.service
      ;;
    networkd | netplan)
      enable systemd-networkd.service multi-user.target
      enable systemd-networkd.socket sockets.target
      enable systemd-networkd-wait-online.service network-online.target
      enable systemd-resolved.service multi-user.target
      # resolv.conf lists the upstream servers networkd handed to resolved (not the
      # 127.0.0.53 stub), so the file is the truth the tests read; no fallback servers.
      ln -sfn /run/systemd/resolve/resolv.conf "$root/etc/resolv.conf"
      mkdir -p "$root/etc/systemd/resolved.conf.d"
      printf '[Resolve]\nFallbackDNS=\nLLMNR=no\nMulticastDNS=no\n' >"$root/etc/systemd/resolved.conf.d/90-guest.conf"
      ;;
    ifupdown)
      mask systemd-networkd.service systemd-networkd.socket systemd-networkd-wait-online.service
      grep -q '^source /etc/network/interfaces.d/' "$root/etc/network/interfaces" ||
        echo 'source /etc/network/interfaces.d/*' >>"$root/etc/network/interfaces"
      ;;
  esac
  rm -f "$root/usr/sbin/policy-rc.d"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log
}

build_stack() { # $1: suite, $2: stack
  local suite=$1 stack=$2 hash out="$cache/$1/$2" root="$cache/work/$1-$2"
  hash=$(recipe_hash "$suite" "$stack")
  if [[ -f $out/stamp && $(cat "$out/stamp") == "$hash" && -f $out/rootfs.raw ]]; then
    echo "$suite/$stack: up to date ($hash)"
    return
  fi
  local start=$SECONDS
  rm -rf "$root" "$out"
  mkdir -p "$root" "$out"
  tar -C "$root" -xf "$cache/$suite/base.tar" --numeric-owner --xattrs
  local pkgs
  read -ra pkgs <<<"$(stack_packages "$suite" "$stack")"
  echo "$suite/$stack: installing ${pkgs[*]}"
  in_chroot "$root" apt-get update -qq
  in_chroot "$root" apt-get install -y -qq "${pkgs[@]}" >"$root.apt.log" 2>&1 ||
    { tail -n 30 "$root.apt.log" >&2; exit 1; }
  configure_stack "$stack" "$root"
  in_chroot "$root" update-initramfs -u -k all >"$root.initramfs.log" 2>&1 ||
    { tail -n 30 "$root.initramfs.log" >&2; exit 1; }
  cp -L "$root/vmlinuz" "$out/vmlinuz" 2>/dev/null || cp "$(ls "$root"/boot/vmlinuz-* | tail -n1)" "$out/vmlinuz"
  cp -L "$root/initrd.img" "$out/initrd.img" 2>/dev/null || cp "$(ls "$root"/boot/initrd.img-* | tail -n1)" "$out/initrd.img"
  rm -f "$root"/boot/*-*   # the host boots the copies above; keeps the image small
  local size_mb
  size_mb=$(($(du -sm "$root" | cut -f1) * 13 / 10 + 256))
  "${NICE[@]}" mkfs.ext4 -q -F -L guest-root -d "$root" "$out/rootfs.raw" "${size_mb}M"
  rm -rf "$root"
  echo "$hash" >"$out/stamp"
  echo "$suite/$stack: built ${size_mb} MB image in $((SECONDS - start)) s"
}

start=$SECONDS
for target in "${targets[@]}"; do
  suite=${target%%/*} what=${target#*/}
  [[ " ${all_suites[*]} " == *" $suite "* ]] || { echo "unknown suite: $suite (known: ${all_suites[*]})" >&2; exit 1; }
  build_base "$suite"
  if [[ $what == cloudinit-root ]]; then build_cloudinit_root "$suite"; else build_stack "$suite" "$what"; fi
done
echo "guest images ready in $cache ($((SECONDS - start)) s)"
