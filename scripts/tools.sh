#!/usr/bin/env bash
# Builds, once, every external tool the test suite needs, into the tools cache
# ($SHOAL_TOOLS, default ~/.cache/shoal/tools), outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f scripts/kubo.sh ]; then
  bash scripts/kubo.sh >/dev/null
fi
# SeaweedFS's weed, the real S3 server of the S3 input and publisher tests
# (cold build: several minutes; then cached like kubo).
if [ -f scripts/seaweedfs.sh ]; then
  bash scripts/seaweedfs.sh >/dev/null
fi
# A headless Chromium for the browser test of the API's defences
# (cmd/shoal TestBrowserCannotDriveAPI, skipped when it is missing).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    # A fresh machine has no package lists yet: update once if needed.
    { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; }; } ||
      echo "tools.sh: could not install chromium; the browser tests (API defences, dashboard) will be skipped" >&2
  else
    echo "tools.sh: chromium not installed (apt-get install chromium as root); the browser tests (API defences, dashboard) will be skipped" >&2
  fi
fi
