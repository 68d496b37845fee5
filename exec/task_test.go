package exec_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shoalnet/shoal/exec"
)

func TestValidate(t *testing.T) {
	wasm := func() *exec.Task { return &exec.Task{ID: "t", WASM: &exec.WASMSpec{Module: []byte{0}}} }
	docker := func() *exec.Task { return &exec.Task{ID: "t", Docker: &exec.DockerSpec{Image: "i"}} }
	with := func(tk *exec.Task, f func(*exec.Task)) *exec.Task { f(tk); return tk }
	tests := []struct {
		name   string
		task   *exec.Task
		engine string
		ok     bool
	}{
		{"wasm", wasm(), exec.EngineWASM, true},
		{"docker", docker(), exec.EngineDocker, true},
		{"docker tar only", &exec.Task{Docker: &exec.DockerSpec{ImageTar: "/x.tar"}}, exec.EngineDocker, true},
		{"nil", nil, exec.EngineWASM, false},
		{"wrong engine", wasm(), exec.EngineDocker, false},
		{"unknown engine", wasm(), "qemu", false},
		{"both module sources", with(wasm(), func(tk *exec.Task) { tk.WASM.ModulePath = "/m.wasm" }), exec.EngineWASM, false},
		{"no module", with(wasm(), func(tk *exec.Task) { tk.WASM.Module = nil }), exec.EngineWASM, false},
		{"no image", &exec.Task{Docker: &exec.DockerSpec{}}, exec.EngineDocker, false},
		{"NUL in arg", with(wasm(), func(tk *exec.Task) { tk.Args = []string{"a\x00"} }), exec.EngineWASM, false},
		{"= in env name", with(wasm(), func(tk *exec.Task) { tk.Env = map[string]string{"A=B": "c"} }), exec.EngineWASM, false},
		{"empty env name", with(wasm(), func(tk *exec.Task) { tk.Env = map[string]string{"": "c"} }), exec.EngineWASM, false},
		{"mounts", with(wasm(), func(tk *exec.Task) {
			tk.Inputs = []exec.Mount{{Source: "/a", Target: "/in/a"}, {Source: "/b", Target: "/in/b"}}
			tk.OutputsDir = "/o"
		}), exec.EngineWASM, true},
		{"relative target", with(wasm(), func(tk *exec.Task) { tk.Inputs = []exec.Mount{{Source: "/a", Target: "in"}} }), exec.EngineWASM, false},
		{"dotdot target", with(wasm(), func(tk *exec.Task) { tk.Inputs = []exec.Mount{{Source: "/a", Target: "/in/../etc"}} }), exec.EngineWASM, false},
		{"root target", with(wasm(), func(tk *exec.Task) { tk.Inputs = []exec.Mount{{Source: "/a", Target: "/"}} }), exec.EngineWASM, false},
		{"empty source", with(wasm(), func(tk *exec.Task) { tk.Inputs = []exec.Mount{{Target: "/in"}} }), exec.EngineWASM, false},
		{"input on outputs", with(wasm(), func(tk *exec.Task) {
			tk.Inputs = []exec.Mount{{Source: "/a", Target: "/outputs"}}
			tk.OutputsDir = "/o"
		}), exec.EngineWASM, false},
		{"relative outputs path", with(wasm(), func(tk *exec.Task) { tk.OutputsDir, tk.OutputsPath = "/o", "out" }), exec.EngineWASM, false},
		{"negative memory", with(wasm(), func(tk *exec.Task) { tk.Limits.MemoryBytes = -1 }), exec.EngineWASM, false},
		{"negative cpu", with(wasm(), func(tk *exec.Task) { tk.Limits.CPU = -1 }), exec.EngineWASM, false},
		{"negative timeout", with(wasm(), func(tk *exec.Task) { tk.Timeout = -time.Second }), exec.EngineWASM, false},
		{"negative cap", with(wasm(), func(tk *exec.Task) { tk.StderrCap = -1 }), exec.EngineWASM, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.task.Validate(tc.engine)
			if tc.ok && err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, exec.ErrInvalidTask) {
				t.Errorf("Validate = %v, want ErrInvalidTask", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	var tk exec.Task
	if tk.OutputsTarget() != exec.DefaultOutputsPath || tk.StdoutLimit() != exec.DefaultOutputCap || tk.StderrLimit() != exec.DefaultOutputCap {
		t.Errorf("defaults: %q %d %d", tk.OutputsTarget(), tk.StdoutLimit(), tk.StderrLimit())
	}
	if tk.Limits.MemoryOrDefault() != exec.DefaultMemoryBytes || tk.Limits.PidsOrDefault() != exec.DefaultPids {
		t.Errorf("limit defaults: %d %d", tk.Limits.MemoryOrDefault(), tk.Limits.PidsOrDefault())
	}
	tk = exec.Task{OutputsPath: "/r", StdoutCap: 5, StderrCap: 6, Limits: exec.Limits{MemoryBytes: 7, Pids: 8}}
	if tk.OutputsTarget() != "/r" || tk.StdoutLimit() != 5 || tk.StderrLimit() != 6 || tk.Limits.MemoryOrDefault() != 7 || tk.Limits.PidsOrDefault() != 8 {
		t.Errorf("set values not kept: %+v", tk)
	}
}
