#!/bin/sh
# Builds the example jobs for the wasm engine: examples/<name>/<name>.wasm.
# Run from anywhere in the repository; GO overrides the go command.
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
for name in hello wordcount sha256sum; do
	GOOS=wasip1 GOARCH=wasm "$GO" build -trimpath -o "examples/$name/$name.wasm" "./examples/$name"
	echo "examples/$name/$name.wasm"
done
