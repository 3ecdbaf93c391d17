#!/usr/bin/env bash
# Builds local stand-ins for the Containerfile's base images where no container registry is
# reachable, from Debian's mirror (debootstrap) and the Node.js binary on npm (node-linux-<arch>):
#
#   localhost/berth-base/node:24-bookworm-slim   Debian 12 minbase + Node.js 24, like node:24-bookworm-slim
#   localhost/berth-base/node:24-bookworm-build  the same + npm, the Node.js headers, python3 make g++
#
# Images already in buildah's store are reused (--force rebuilds them). Runs as root (debootstrap,
# chroot). buildah reads its store from the usual places: STORAGE_DRIVER=vfs, CONTAINERS_STORAGE_CONF.
# Then:
#   buildah build --format docker --layers $(deploy/image/local-base.sh --build-args) -t berth:dev .
set -euo pipefail

NODE_MAJOR=${NODE_MAJOR:-24}
SUITE=${SUITE:-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PREFIX=${BASE_PREFIX:-localhost/berth-base/node}
RUNTIME=$PREFIX:$NODE_MAJOR-$SUITE-slim
BUILD=$PREFIX:$NODE_MAJOR-$SUITE-build

if [ "${1:-}" = --build-args ]; then
  echo "--build-arg NODE_IMAGE=$BUILD --build-arg RUNTIME_IMAGE=$RUNTIME"
  exit 0
fi
force=0
[ "${1:-}" = --force ] && force=1

have() { buildah inspect --type image "$1" >/dev/null 2>&1; }
if [ $force = 0 ] && have "$RUNTIME" && have "$BUILD"; then
  echo "local-base: $RUNTIME and $BUILD are present (--force rebuilds them)" >&2
  exit 0
fi
for tool in debootstrap buildah npm tar; do
  command -v $tool >/dev/null || { echo "local-base: $tool is missing (Debian: apt-get install -y debootstrap buildah npm)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "local-base: run as root (debootstrap and chroot need it)" >&2; exit 2; }

case "$(uname -m)" in x86_64) arch=x64 deb=amd64 ;; aarch64) arch=arm64 deb=arm64 ;; *) echo "unsupported $(uname -m)" >&2; exit 2 ;; esac

work=$(mktemp -d /var/tmp/berth-base.XXXXXX)
cleanup() {
  for m in "$work"/build/proc "$work"/build/dev; do mountpoint -q "$m" && umount -l "$m"; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "local-base: debootstrap $SUITE ($deb) from $MIRROR" >&2
debootstrap --variant=minbase --arch="$deb" --include=ca-certificates "$SUITE" "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }

echo "local-base: Node.js $NODE_MAJOR and npm from the npm registry" >&2
(cd "$work" && npm pack --silent "node-linux-$arch@$NODE_MAJOR" "npm@11" >/dev/null)
mkdir -p "$work/node" "$work/npm"
tar -xzf "$work"/node-linux-"$arch"-*.tgz -C "$work/node" --strip-components=1
tar -xzf "$work"/npm-*.tgz -C "$work/npm" --strip-components=1
node_version=$("$work/node/bin/node" --version)

# The build base: the rootfs plus the toolchain better-sqlite3 compiles with, npm, and the headers
# node-gyp would otherwise download from nodejs.org.
cp -a "$work/rootfs" "$work/build"
mount --bind /proc "$work/build/proc"
mount --bind /dev "$work/build/dev"
cp /etc/resolv.conf "$work/build/etc/resolv.conf"
chroot "$work/build" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 make g++ >/dev/null' \
  || { echo "local-base: apt-get in the build rootfs failed" >&2; exit 1; }
umount -l "$work/build/proc" "$work/build/dev"
mkdir -p "$work/build/usr/local/lib/node_modules" "$work/build/usr/local/include"
cp -a "$work/npm" "$work/build/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/build/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/build/usr/local/bin/npx"
cp -a "$work/node/include/node" "$work/build/usr/local/include/node"
# npm in the build stage trusts what this machine trusts (a TLS-inspecting proxy's CA, say):
# the build base gets the host's CA bundle and NODE_EXTRA_CA_CERTS (the runtime base does not).
cp /etc/ssl/certs/ca-certificates.crt "$work/build/etc/ssl/certs/ca-certificates.crt"

# What node:*-slim removes: documentation, manuals, package lists, caches.
for root in "$work/rootfs" "$work/build"; do
  install -m 0755 "$work/node/bin/node" "$root/usr/local/bin/node"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old "$root"/var/log/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
    "$root"/etc/resolv.conf "$root"/etc/hostname
  rm -f "$root"/tmp/* 2>/dev/null || true
done

commit() { # rootfs image [env...]
  local ctr mnt
  ctr=$(buildah from scratch)
  mnt=$(buildah mount "$ctr")
  tar -C "$1" -cf - . | tar -C "$mnt" -xpf -
  buildah umount "$ctr" >/dev/null
  shift
  local image=$1; shift
  buildah config --os linux --arch "$deb" --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="${node_version#v}" "$@" --cmd node \
    --label "org.opencontainers.image.description=local stand-in for node:$NODE_MAJOR-$SUITE (deploy/image/local-base.sh)" "$ctr"
  buildah commit --quiet --rm "$ctr" "$image" >/dev/null
  echo "local-base: built $image (Node.js $node_version)" >&2
}
commit "$work/rootfs" "$RUNTIME"
commit "$work/build" "$BUILD" --env npm_config_nodedir=/usr/local --env npm_config_update_notifier=false \
  --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
