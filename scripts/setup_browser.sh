#!/usr/bin/env bash
# Install the browser the inspector's tests drive: Debian's chromium and its matching chromium-driver (apt, from the
# distribution's own package mirror; nothing is downloaded at test time). Skipped when both are already installed.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  echo "chromium and chromedriver are installed: $(chromium --version 2>/dev/null || echo chromium)"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "no apt-get here: install chromium and chromedriver yourself (DELTAMEM_CHROMIUM / DELTAMEM_CHROMEDRIVER name them)" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing Debian's chromium and chromium-driver (about 100 MB)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
chromium --version
