package bidding

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// AwardID identifies one award: 16 random bytes, written as 32 hex digits.
// A job awarded again (failover) gets a new AwardID.
type AwardID [16]byte

// NewAwardID returns a random AwardID.
func NewAwardID() AwardID {
	var id AwardID
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails (Go 1.24+)
	return id
}

// ParseAwardID parses 32 hex digits.
func ParseAwardID(s string) (AwardID, error) {
	var id AwardID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("award ID %q: want %d hex digits", s, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("award ID %q: %w", s, err)
	}
	return id, nil
}

func (id AwardID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is unset.
func (id AwardID) IsZero() bool { return id == AwardID{} }

// MarshalText writes the hex form, for JSON and logs.
func (id AwardID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads the hex form.
func (id *AwardID) UnmarshalText(b []byte) error {
	v, err := ParseAwardID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
