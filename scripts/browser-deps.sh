#!/usr/bin/env bash
# What the browser tests need (README, "Browser tests"): Debian's Chromium and ChromeDriver, and
# axe-core's script under target/axe-core/ (read by the tests at run time, never committed).
set -euo pipefail
cd "$(dirname "$0")/.."

AXE_VERSION=4.14.1
# The SHA-256 of the registry's tarball (its SHA-512 matches the registry's dist.integrity),
# checked before anything is unpacked.
AXE_SHA256=e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745

if ! [ -x /usr/lib/chromium/chromium ] || ! command -v chromedriver >/dev/null; then
  echo "installing chromium and chromium-driver"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver
fi

dest=target/axe-core
if [ "$(cat "$dest/VERSION" 2>/dev/null)" != "$AXE_VERSION" ]; then
  echo "fetching axe-core $AXE_VERSION from the npm registry"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  curl -fsSL --retry 3 -o "$tmp/axe.tgz" \
    "https://registry.npmjs.org/axe-core/-/axe-core-$AXE_VERSION.tgz"
  echo "$AXE_SHA256  $tmp/axe.tgz" | sha256sum -c --quiet -
  tar -xzf "$tmp/axe.tgz" -C "$tmp" package/axe.min.js package/LICENSE
  mkdir -p "$dest"
  cp "$tmp/package/axe.min.js" "$tmp/package/LICENSE" "$dest/"
  echo "$AXE_VERSION" >"$dest/VERSION"
fi
echo "browser test dependencies: $(/usr/lib/chromium/chromium --version), axe-core $(cat "$dest/VERSION")"
