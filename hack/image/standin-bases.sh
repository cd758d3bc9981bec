#!/usr/bin/env bash
# Local stand-ins for the two base images the Dockerfile names, for a machine that reaches no
# container registry (only Debian's packages and the npm registry). Anywhere else the Dockerfile
# pulls the real ones and this script is not needed.
#
#   docker.io/library/node:20-bookworm-slim      build stage: Debian 12 (debootstrap, minbase)
#                                                 with this machine's node and npm in /usr/local
#   gcr.io/distroless/nodejs20-debian12:nonroot   runtime: only the files of the packages the
#                                                 distroless image carries (libc6, libgcc-s1,
#                                                 libstdc++6, libssl3, ca-certificates, tzdata,
#                                                 netbase, base-files), the nonroot user 65532,
#                                                 node at /nodejs/bin/node; no shell, no apt
#
# Both are made from one debootstrap, imported with `podman import` under the real names and
# labelled io.kubevirt-net-injector.standin=<hash of this script, node and the suite>. The tar
# files are cached in $IMAGE_CACHE_DIR (default .cache/image, gitignored): a machine whose podman
# lost the images re-imports them in seconds; a fresh machine runs debootstrap (about 2-5 min).
# An image of the same name that has no such label (the real one, pulled) is left alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${IMAGE_CACHE_DIR:-$root/.cache/image}"
suite=bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
build_base=docker.io/library/node:20-bookworm-slim
runtime_base=gcr.io/distroless/nodejs20-debian12:nonroot
label=io.kubevirt-net-injector.standin
podman=(podman --runtime runc --cgroup-manager=cgroupfs)
# What the distroless Node image is made of (its "cc" layer plus base files).
runtime_packages=(base-files netbase tzdata ca-certificates libc6 libgcc-s1 libstdc++6 libssl3)

node_bin="$(command -v node)"
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
[[ "$("$node_bin" --version)" == v20.* ]] || {
  echo "image: the stand-in bases need this machine's node to be v20 (found $("$node_bin" --version))" >&2
  exit 1
}
hash="$({
  cat "$0"
  echo "$suite"
  "$node_bin" --version
  "$node_bin" -e 'console.log(require(process.argv[1]).version)' "$npm_dir/package.json"
} | sha256sum | cut -c1-16)"

current() { # IMAGE: prints its stand-in label, "real" when it has none, nothing when absent
  "${podman[@]}" image exists "$1" || return 0
  local l
  l="$("${podman[@]}" image inspect -f "{{index .Labels \"$label\"}}" "$1" 2>/dev/null || true)"
  [[ -n "$l" && "$l" != "<no value>" ]] && echo "$l" || echo real
}

wanted=()
for image in "$build_base" "$runtime_base"; do
  state="$(current "$image")"
  if [[ "$state" == real ]]; then
    echo "image: $image is the real image (no stand-in label): kept"
  elif [[ "$state" != "$hash" ]]; then
    wanted+=("$image")
  fi
done
((${#wanted[@]})) || {
  echo "image: stand-in bases up to date ($hash)"
  exit 0
}

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [[ "$(cat "$cache/stamp" 2>/dev/null)" != "$hash" || ! -f "$cache/build.tar" || ! -f "$cache/runtime.tar" ]]; then
  start=$(date +%s)
  work="$(mktemp -d "$cache/work.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  echo "image: debootstrap $suite (minbase) from $mirror"
  nice -n 10 debootstrap --variant=minbase --include=ca-certificates,tzdata,netbase,libssl3 \
    "$suite" "$work/debian" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    exit 1
  }
  rm -rf "$work"/debian/var/cache/apt/archives/*.deb "$work"/debian/var/lib/apt/lists/*

  # Build stage: Debian plus node and npm where the official image has them.
  b="$work/debian"
  install -D -m 0755 "$node_bin" "$b/usr/local/bin/node"
  mkdir -p "$b/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$b/usr/local/lib/node_modules/npm"
  ln -sfn ../lib/node_modules/npm/bin/npm-cli.js "$b/usr/local/bin/npm"
  ln -sfn ../lib/node_modules/npm/bin/npx-cli.js "$b/usr/local/bin/npx"
  tar -C "$b" --numeric-owner -cf "$cache/build.tar.new" .

  # Runtime: only the listed packages' files, then the user and node.
  r="$work/runtime"
  mkdir -p "$r"
  # Debian 12 has merged /usr: /lib, /bin, ... are symlinks into /usr, but dpkg lists the old
  # paths. Archive the symlinks themselves and every file under its /usr path.
  {
    printf '%s\n' bin sbin lib lib64
    for p in "${runtime_packages[@]}"; do chroot "$b" dpkg-query -L "$p"; done |
      grep -v '^/\.$' | sed -e 's#^/##' -e 's#^\(bin\|sbin\|lib\|lib64\)/#usr/\1/#'
  } | sort -u >"$work/files"
  tar -C "$b" --no-recursion -cf - -T "$work/files" | tar -C "$r" -xf -
  # ca-certificates' bundle is generated at install time, not listed by dpkg.
  cp -a "$b/etc/ssl/certs/ca-certificates.crt" "$r/etc/ssl/certs/"
  mkdir -p "$r/tmp" "$r/home/nonroot" "$r/root" "$r/nodejs/bin"
  chmod 1777 "$r/tmp"
  chown 65532:65532 "$r/home/nonroot"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$r/etc/group"
  install -m 0755 "$node_bin" "$r/nodejs/bin/node"
  tar -C "$r" --numeric-owner -cf "$cache/runtime.tar.new" .
  mv -f "$cache/build.tar.new" "$cache/build.tar"
  mv -f "$cache/runtime.tar.new" "$cache/runtime.tar"
  echo "$hash" >"$cache/stamp"
  echo "image: stand-in root filesystems made in $(($(date +%s) - start))s"
fi

for image in "${wanted[@]}"; do
  if [[ "$image" == "$build_base" ]]; then
    "${podman[@]}" import --quiet --change "LABEL $label=$hash" --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
      --change 'CMD ["node"]' "$cache/build.tar" "$image" >/dev/null
  else
    "${podman[@]}" import --quiet --change "LABEL $label=$hash" --change 'USER 65532' \
      --change 'WORKDIR /home/nonroot' --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
      --change 'ENTRYPOINT ["/nodejs/bin/node"]' "$cache/runtime.tar" "$image" >/dev/null
  fi
  echo "image: stand-in $image imported ($hash)"
done
