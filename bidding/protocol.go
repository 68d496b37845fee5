package bidding

import (
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"
)

// WireVersion is the version of every message this package writes; messages
// of another version are refused with ErrVersion.
const WireVersion = 1

// Protocol IDs and the gossip topic. A change that old peers cannot read
// bumps the version in these names as well as WireVersion.
const (
	// AnnounceTopic is the gossipsub topic where requesters publish
	// Announce messages.
	AnnounceTopic = "shoal/jobs/1"

	// ProtocolBid carries bids. A requester that asks a node directly
	// (typically a provider of the job's inputs) opens it and writes an
	// Announce; the node answers with one Bid or Decline. A node that heard
	// an Announce on the topic opens it to the requester and writes one Bid;
	// the requester reads it and closes the stream without an answer.
	ProtocolBid protocol.ID = "/shoal/bid/1.0.0"

	// ProtocolAward carries an award and the run that follows: the requester
	// writes an Award; the executor answers Accept or Decline, then, after
	// an Accept, writes Status messages (phase changes and heartbeats) and
	// finally the Receipt. The requester may write a Cancel at any time
	// after the Accept.
	ProtocolAward protocol.ID = "/shoal/award/1.0.0"

	// ProtocolReceipt lets a requester re-attach to an award after a broken
	// stream or a restart: it writes a Query; the executor answers with the
	// Receipt if the run has finished, or with Status messages then the
	// Receipt as on ProtocolAward, or with a Decline (code unknown_award).
	ProtocolReceipt protocol.ID = "/shoal/receipt/1.0.0"

	// ProtocolLogs carries a running job's stdout and stderr: the executor
	// of an award opens it to the award's requester and writes Log
	// messages, then closes it when the run ended and its buffered logs
	// were sent (or dropped after LogDrain). The requester answers
	// nothing; it resets a stream whose Log is not of a current award of
	// its job by that executor.
	ProtocolLogs protocol.ID = "/shoal/logs/1.0.0"
)

// Size limits of encoded messages, checked before decoding.
const (
	// MaxInlineSpec is the largest spec block an Announce or Award carries
	// inline; larger specs travel by CID only.
	MaxInlineSpec = 64 << 10
	// MaxMessageSize bounds bid, decline, accept, status, cancel, query and
	// receipt messages, and awards that do not carry a spec.
	MaxMessageSize = 4 << 10
	// MaxAnnounceSize bounds an announce, and an award carrying a spec: an
	// inline spec plus a small envelope.
	MaxAnnounceSize = MaxInlineSpec + MaxMessageSize
	// MaxFrameSize is the largest frame ReadMsg accepts on any Shoal stream.
	MaxFrameSize = MaxAnnounceSize
)

// Field limits.
const (
	MaxAddrs       = 8    // multiaddrs of a requester or of one provider
	MaxAddrLen     = 256  // bytes of one binary multiaddr
	MaxProviders   = 8    // provider hints in an award
	MaxReasonLen   = 256  // bytes of a decline or cancel reason
	MaxErrorLen    = 1024 // bytes of a receipt's error text
	MaxAttempt     = 1000 // announce and award attempts
	MaxEstStart    = 24 * time.Hour
	MaxQueueReport = 1 << 20 // free slots and queue depth in a bid
	MaxReservation = time.Minute
	MaxAwardTTL    = time.Minute // Expires - IssuedAt of an award
	MaxClockSkew   = 30 * time.Second
	MaxTiming      = 8 * 24 * time.Hour // any duration in a receipt
	// MaxCerts and MaxCertSize bound the org membership certificates an
	// announce or a bid presents (key "certs", omitted when empty). The
	// bytes are opaque here; package bidding/trust decodes and verifies them.
	MaxCerts    = 4
	MaxCertSize = 512
)

// Protocol timings; docs/protocol.md explains each.
const (
	// DefaultBidWindow is the longest a requester waits for bids after an
	// announcement. It closes earlier once enough fully-local idle bids
	// arrived.
	DefaultBidWindow = 250 * time.Millisecond
	// SolicitFanout is how many peers, picked at random among the
	// announcement topic's, a job's first round asks directly when no data
	// holder narrows the choice (the best Count of them, plus the
	// requester, win: "power of d choices").
	SolicitFanout = 2
	// MaxSolicited bounds the peers a solicited round asks.
	MaxSolicited = 16
	// SolicitedWindowFactor: a solicited round's window closes once every
	// peer asked answered, and at the latest after this many bid windows
	// (1 s by default): the few peers asked are those expected to win, and
	// a data holder under load may take longer than 250 ms to answer.
	SolicitedWindowFactor = 4
	// SolicitLookup bounds the DHT lookup of input providers before a
	// job's first round.
	SolicitLookup = time.Second
	// DefaultReservationTTL is how long a bidder holds capacity for a bid.
	DefaultReservationTTL = 5 * time.Second
	// DefaultAwardTTL is how long an award may wait for its Accept
	// (Expires - IssuedAt).
	DefaultAwardTTL = 10 * time.Second
	// HeartbeatInterval is the period of Status heartbeats while a job runs.
	HeartbeatInterval = time.Second
	// MissedHeartbeats is how many intervals without any Status make the
	// requester presume the executor dead.
	MissedHeartbeats = 3
	// AnnounceBackoffMin and AnnounceBackoffMax bound the re-announce
	// backoff, which doubles from the first to the second.
	AnnounceBackoffMin = 500 * time.Millisecond
	AnnounceBackoffMax = 8 * time.Second
	// PublishGrace is what a requester grants an executor beyond the job's
	// timeout: an accepted award that has no receipt PublishGrace after
	// accept + spec.timeout is cancelled (Cancel to its executor) and the
	// job fails over. It covers the executor's queue wait, fetching the
	// inputs and publishing the outputs, which the run's timeout does not;
	// heartbeats do not extend it.
	PublishGrace = 2 * time.Minute
	// StreamTimeout bounds one request/answer exchange on a stream (an ask
	// and its bid, an award and its accept, a query and its first answer).
	StreamTimeout = 5 * time.Second
	// ReattachTimeout bounds the redial and Query a requester tries when
	// an award stream broke and no connection to its executor remains
	// (the executor's process likely died): a live executor answers a
	// Query within it, and the job fails over right after it otherwise,
	// instead of after MissedHeartbeats silent intervals.
	ReattachTimeout = 300 * time.Millisecond
	// ReattachRetryMin and ReattachRetryMax bound the backoff between the
	// re-attach Queries of a requester that restarted (or whose award
	// stream broke while a connection to the executor remained): a failed
	// dial or a Query stream broken before any answer is asked again,
	// doubling from the first to the second, until the Query's answer
	// deadline; a connection to the executor that opens meanwhile asks at
	// once.
	ReattachRetryMin = 100 * time.Millisecond
	ReattachRetryMax = time.Second
	// CancelChase bounds how long a requester keeps trying to deliver the
	// Cancel of a superseded award (and to read its late receipt) to an
	// executor that is unreachable.
	CancelChase = time.Minute
)
