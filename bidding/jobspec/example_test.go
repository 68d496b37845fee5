package jobspec_test

import (
	"fmt"

	"github.com/shoalnet/shoal/bidding/jobspec"
)

func ExampleParse() {
	spec, err := jobspec.Parse([]byte(`
name: hello
engine:
  wasm:
    module: bafkreieyqdmkm4xdorztla7zvuhreacuyisz7tesvfccwniyrrdeiuicya
    args: [hello]
resources:
  memory: 64MiB
`), "hello.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	block, jobID, err := jobspec.Encode(spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(spec.Timeout, jobspec.FormatSize(spec.Resources.Memory), len(block) < 200, jobID.Prefix().Codec == 0x71)
	// Output: 10m0s 64MiB true true
}

func ExampleParse_error() {
	_, err := jobspec.Parse([]byte("engine:\n  wasm:\n    module: bafyfoo\ntimout: 5m\n"), "job.yaml")
	fmt.Println(err)
	// Output:
	// job.yaml:3: engine.wasm.module: invalid value: "bafyfoo" is not a CID (invalid cid: invalid cid: varints malformed, could not reach the end), nor a local path (those start with ./, ../ or /)
	// job.yaml:4: timout: unknown field: did you mean "timeout"?
}
