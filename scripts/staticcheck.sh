#!/usr/bin/env bash
# Installs staticcheck once into the tools cache and prints its path.
set -euo pipefail
tools="${SHOAL_TOOLS:-$HOME/.cache/shoal/tools}"
bin="$tools/staticcheck-v0.8.2"
if [ ! -x "$bin" ]; then
  mkdir -p "$tools"
  GOBIN="$tools/.gobin" go install honnef.co/go/tools/cmd/staticcheck@v0.8.2 >&2
  mv "$tools/.gobin/staticcheck" "$bin"
fi
echo "$bin"
