#!/usr/bin/env bash
# Builds, once, every external tool the test suite needs, into the tools cache
# ($SHOAL_TOOLS, default ~/.cache/shoal/tools), outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f scripts/kubo.sh ]; then
  bash scripts/kubo.sh >/dev/null
fi
