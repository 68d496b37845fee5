package market

import (
	"context"
	"fmt"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"io"
	"net"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/shoalnet/shoal/bidding"
)

// send seals msg with the node's key and writes it as one frame.
func (m *Market) send(w io.Writer, msg bidding.Message) error {
	b, err := bidding.Seal(m.cfg.Key, msg)
	if err != nil {
		return err
	}
	return bidding.WriteMsg(w, b)
}

// recv reads one frame of at most max bytes and opens it as one of kinds
// (signature verified). It also returns the frame.
func recv(r io.Reader, max int, kinds ...bidding.Kind) (bidding.Message, []byte, error) {
	b, err := bidding.ReadMsg(r, max)
	if err != nil {
		return nil, nil, err
	}
	var msg bidding.Message
	if p, ok := r.(selfPipe); ok {
		msg, err = bidding.OpenOwn(b, p.self, kinds...) // sealed by this process
	} else {
		msg, err = bidding.Open(b, kinds...)
	}
	if err != nil {
		return nil, nil, err
	}
	return msg, b, nil
}

// selfPipe is one end of the in-process pipe of a node's award to itself
// (dial): only this process writes to it, so recv does not verify again
// the signatures it made (bidding.OpenOwn).
type selfPipe struct {
	net.Conn
	self peer.ID
}

// openStream opens a stream to p on proto, bounded by StreamTimeout.
func (m *Market) openStream(ctx context.Context, p peer.ID, proto protocol.ID) (network.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, bidding.StreamTimeout)
	defer cancel()
	s, err := m.cfg.Host.NewStream(network.WithAllowLimitedConn(ctx, string(proto)), p, proto)
	if err != nil {
		return nil, fmt.Errorf("open %s to %s: %w", proto, p, err)
	}
	return s, nil
}

// deadline sets a read/write deadline on s when it supports one.
func deadline(s any, d time.Duration) {
	type dl interface{ SetDeadline(time.Time) error }
	if x, ok := s.(dl); ok {
		if d <= 0 {
			_ = x.SetDeadline(time.Time{})
		} else {
			_ = x.SetDeadline(time.Now().Add(d))
		}
	}
}

type protocolID = protocol.ID

func newBlock(data []byte, c cid.Cid) (blocks.Block, error) { return blocks.NewBlockWithCid(data, c) }

// writeDeadline sets only the write deadline of s (when supported).
func writeDeadline(s any, d time.Duration) {
	type dl interface{ SetWriteDeadline(time.Time) error }
	if x, ok := s.(dl); ok {
		_ = x.SetWriteDeadline(time.Now().Add(d))
	}
}

// noReadDeadline clears the read deadline of s (when supported).
func noReadDeadline(s any) {
	type dl interface{ SetReadDeadline(time.Time) error }
	if x, ok := s.(dl); ok {
		_ = x.SetReadDeadline(time.Time{})
	}
}
