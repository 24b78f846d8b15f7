#!/usr/bin/env bash
# Installs Mesa's software Vulkan driver (lavapipe) and the Vulkan loader so that
# hlodiff's `vulkan` tests have a device. Idempotent and quiet: exits 0 at once when
# the packages are already present. Needs root (or sudo) on a Debian/Ubuntu image.
set -euo pipefail

PACKAGES=(mesa-vulkan-drivers libvulkan1 vulkan-tools)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_vulkan.sh: apt-get not found; install ${missing[*]} by hand" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install_vulkan.sh: installed ${missing[*]}"
