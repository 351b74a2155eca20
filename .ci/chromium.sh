#!/usr/bin/env bash
# Installs Debian's Chromium when missing: the dashboard's browser tests drive it through
# playwright-core, which downloads no browser of its own (test/dashboard-browser.test.ts).
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "== chromium present ($(chromium --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi
echo "== installing chromium from Debian"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null
