package p2p

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/pnet"
)

// GenerateSwarmKey returns a new pre-shared key in kubo's swarm.key format:
//
//	/key/swarm/psk/1.0.0/
//	/base16/
//	<64 hex digits>
func GenerateSwarmKey() ([]byte, error) {
	k := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, k); err != nil {
		return nil, fmt.Errorf("p2p: generate swarm key: %w", err)
	}
	return []byte("/key/swarm/psk/1.0.0/\n/base16/\n" + hex.EncodeToString(k) + "\n"), nil
}

// DecodeSwarmKey parses a swarm.key file (kubo's format).
func DecodeSwarmKey(data []byte) (pnet.PSK, error) {
	psk, err := pnet.DecodeV1PSK(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("p2p: invalid swarm key: %w", err)
	}
	return psk, nil
}
