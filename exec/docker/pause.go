package docker

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// pauseELF returns a static Linux executable for goarch (amd64 or arm64)
// that waits for a signal forever, in 120 + 28 bytes: the keeper of an
// outputs volume runs it (see outputs.go), as Kubernetes' pause container
// holds a pod's namespaces. It needs nothing from the image it runs in.
func pauseELF(goarch string) ([]byte, error) {
	var machine uint16
	var code []byte
	switch goarch {
	case "amd64":
		machine = 62 // EM_X86_64
		code = []byte{
			0xb8, 0x22, 0x00, 0x00, 0x00, // mov eax, 34 (pause)
			0x0f, 0x05, // syscall
			0xeb, 0xf7, // jmp back to mov
		}
	case "arm64":
		machine = 183 // EM_AARCH64
		for _, ins := range []uint32{
			0xd2800000, // mov x0, #0
			0xd2800001, // mov x1, #0
			0xd2800002, // mov x2, #0
			0xd2800003, // mov x3, #0
			0xd2800928, // mov x8, #73 (ppoll: no fds, no timeout)
			0xd4000001, // svc #0
			0x17fffffa, // b back to the first mov
		} {
			code = binary.LittleEndian.AppendUint32(code, ins)
		}
	default:
		return nil, fmt.Errorf("docker: no outputs keeper for architecture %q (amd64 and arm64 are supported)", goarch)
	}
	const base, hdr = 0x400000, 64 + 56
	size := uint64(hdr + len(code))
	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0}) // 64-bit, little endian, version 1, System V
	b.Write(make([]byte, 8))
	binary.Write(&b, le, struct {
		Type, Machine                                        uint16
		Version                                              uint32
		Entry, Phoff, Shoff                                  uint64
		Flags                                                uint32
		Ehsize, Phentsize, Phnum, Shentsize, Shnum, Shstrndx uint16
	}{2, machine, 1, base + hdr, 64, 0, 0, 64, 56, 1, 0, 0, 0})
	binary.Write(&b, le, struct {
		Type, Flags                                uint32
		Offset, Vaddr, Paddr, Filesz, Memsz, Align uint64
	}{1, 5, 0, base, base, size, size, 0x10000}) // PT_LOAD, R+X
	b.Write(code)
	return b.Bytes(), nil
}
