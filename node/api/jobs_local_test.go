package api

import (
	"net/http"
	"testing"
)

// A spec that names a local file reaches the daemon only through the CLI,
// which adds the file and submits its CID; the API itself refuses the path
// with a clear error at its line (the daemon may run elsewhere).
func TestSubmitRefusesLocalPaths(t *testing.T) {
	s, _ := apiNode(t)
	wantError(t, post(t, s, "/jobs", "application/yaml", "name: x\nengine:\n  wasm:\n    module: ./hello.wasm\n"),
		http.StatusBadRequest, CodeBadRequest, "spec.yaml:4: engine.wasm.module", "a daemon takes only CIDs")
	wantError(t, post(t, s, "/jobs", "application/yaml", "engine: {wasm: {module: bafkreieyqdmkm4xdorztla7zvuhreacuyisz7tesvfccwniyrrdeiuicya}}\ninputs:\n  - {src: ./corpus, path: /in}\n"),
		http.StatusBadRequest, CodeBadRequest, "spec.yaml:3: inputs[0].src", "local path")
}
