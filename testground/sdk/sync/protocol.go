// Package sync is Testground's sync service for Shoal's runner: barriers
// over states, signal-entry counters and publish/subscribe topics whose
// subscribers receive the whole history first, then live items.
//
// The [Service] keeps the state in memory. [Handler] serves it as JSON
// requests over a websocket in the wire format of Testground's
// sync-service, so instances in processes and containers reach it with
// [DialWS], and a plan can also run against Testground's own service.
// Instances of the in-process runner use [NewInmemClient]. Keys are scoped
// to the run as Testground's SDK does it
// ("run:<run>:plan:<plan>:case:<case>:states:<state>").
//
// The package depends on nothing of Shoal.
package sync

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Limits of the wire protocol.
const (
	// MaxRequestSize bounds one request frame.
	MaxRequestSize = 1 << 20
	// MaxIDLen bounds a request ID.
	MaxIDLen = 64
	// MaxKeyLen bounds a topic or state key.
	MaxKeyLen = 512
)

// ErrBadRequest is wrapped by every DecodeRequest error.
var ErrBadRequest = errors.New("sync: bad request")

// Request is one request from an instance. ID names it in the responses;
// exactly one of the operations is set, or IsCancel to cancel the pending
// subscription or barrier with the same ID.
type Request struct {
	ID                 string              `json:"id"`
	IsCancel           bool                `json:"is_cancel"`
	PublishRequest     *PublishRequest     `json:"publish,omitempty"`
	SubscribeRequest   *SubscribeRequest   `json:"subscribe,omitempty"`
	BarrierRequest     *BarrierRequest     `json:"barrier,omitempty"`
	SignalEntryRequest *SignalEntryRequest `json:"signal_entry,omitempty"`
}

// PublishRequest appends Payload (any JSON value) to Topic.
type PublishRequest struct {
	Topic   string          `json:"topic"`
	Payload json.RawMessage `json:"payload"`
}

// SubscribeRequest streams Topic from its first item.
type SubscribeRequest struct {
	Topic string `json:"topic"`
}

// BarrierRequest waits until State's counter reaches Target.
type BarrierRequest struct {
	State  string `json:"state"`
	Target int64  `json:"target"`
}

// SignalEntryRequest increments State's counter.
type SignalEntryRequest struct {
	State string `json:"state"`
}

// Response answers a request. A publish and a signal entry get one
// response with their sequence number; a barrier one empty response when it
// is reached; a subscription one response per item, the item being the
// JSON text of the payload in Subscribe. Error is set on failure.
type Response struct {
	ID                  string               `json:"id"`
	Error               string               `json:"error"`
	PublishResponse     *PublishResponse     `json:"publish"`
	SubscribeResponse   string               `json:"subscribe"`
	SignalEntryResponse *SignalEntryResponse `json:"signal_entry"`
}

// PublishResponse carries the 1-based position of the published item.
type PublishResponse struct {
	Seq int64 `json:"seq"`
}

// SignalEntryResponse carries the counter's value after the increment.
type SignalEntryResponse struct {
	Seq int64 `json:"seq"`
}

// DecodeRequest parses and checks one request frame: size, JSON, an ID,
// exactly one operation (none for a cancel), keys within limits, a
// non-negative barrier target and a payload that is one JSON value. Unknown
// fields are ignored, as Testground's service does.
func DecodeRequest(b []byte) (*Request, error) {
	if len(b) > MaxRequestSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadRequest, len(b), MaxRequestSize)
	}
	var r Request
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the request object", ErrBadRequest)
	}
	if err := r.Check(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Check validates a request (DecodeRequest calls it).
func (r *Request) Check() error {
	if r.ID == "" || len(r.ID) > MaxIDLen {
		return fmt.Errorf("%w: id must have 1 to %d bytes", ErrBadRequest, MaxIDLen)
	}
	ops := 0
	for _, set := range []bool{r.PublishRequest != nil, r.SubscribeRequest != nil, r.BarrierRequest != nil, r.SignalEntryRequest != nil} {
		if set {
			ops++
		}
	}
	if r.IsCancel {
		if ops != 0 {
			return fmt.Errorf("%w: request %s: a cancel carries no operation", ErrBadRequest, r.ID)
		}
		return nil
	}
	if ops != 1 {
		return fmt.Errorf("%w: request %s has %d operations, want exactly one of publish, subscribe, barrier, signal_entry", ErrBadRequest, r.ID, ops)
	}
	switch {
	case r.PublishRequest != nil:
		if err := checkKey("topic", r.PublishRequest.Topic); err != nil {
			return fmt.Errorf("request %s: %w", r.ID, err)
		}
		p := r.PublishRequest.Payload
		if len(p) == 0 {
			return fmt.Errorf("%w: request %s: publish without payload", ErrBadRequest, r.ID)
		}
		if !json.Valid(p) {
			return fmt.Errorf("%w: request %s: payload is not JSON", ErrBadRequest, r.ID)
		}
	case r.SubscribeRequest != nil:
		if err := checkKey("topic", r.SubscribeRequest.Topic); err != nil {
			return fmt.Errorf("request %s: %w", r.ID, err)
		}
	case r.BarrierRequest != nil:
		if err := checkKey("state", r.BarrierRequest.State); err != nil {
			return fmt.Errorf("request %s: %w", r.ID, err)
		}
		if r.BarrierRequest.Target < 0 {
			return fmt.Errorf("%w: request %s: barrier target %d is negative", ErrBadRequest, r.ID, r.BarrierRequest.Target)
		}
	case r.SignalEntryRequest != nil:
		if err := checkKey("state", r.SignalEntryRequest.State); err != nil {
			return fmt.Errorf("request %s: %w", r.ID, err)
		}
	}
	return nil
}

func checkKey(what, k string) error {
	if k == "" || len(k) > MaxKeyLen {
		return fmt.Errorf("%w: %s must have 1 to %d bytes", ErrBadRequest, what, MaxKeyLen)
	}
	return nil
}
