#!/usr/bin/env bash
# Installs Mesa's software Vulkan driver (lavapipe), the Vulkan loader and vulkaninfo, so that
# hlodiff's `vulkan` tests have a device. Idempotent and quiet: exits 0 at once when everything
# is already installed; prints apt's log only if apt fails. Needs root (or sudo), Debian/Ubuntu.
set -euo pipefail

PACKAGES=(mesa-vulkan-drivers libvulkan1 vulkan-tools)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_vulkan.sh: apt-get not found; install ${missing[*]} with your package manager" >&2
  exit 1
fi

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && \
       $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install_vulkan.sh: failed to install ${missing[*]}" >&2
  exit 1
fi
echo "install_vulkan.sh: installed ${missing[*]}"
