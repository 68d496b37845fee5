package api

import (
	"fmt"
	"strings"

	"github.com/shoalnet/shoal/bidding"
	"github.com/shoalnet/shoal/bidding/market"
)

// Conversions from the requester's storage records to the API's types: one
// function per type, and no other code of this package reads a market
// record's fields for a response.

func jobSummaryOf(j *market.Job) JobSummary {
	return JobSummary{ID: j.ID, Name: j.Name, Type: j.Type, Engine: j.Engine, Count: j.Count, State: JobState(j.State),
		Created: j.Created, Updated: j.Updated, Attempts: j.Attempts, Error: j.Error, ErrorCode: storedCode(j.ErrorCode, j.Error), Parent: j.Parent}
}

func jobSummariesOf(js []*market.Job) []JobSummary {
	out := make([]JobSummary, 0, len(js))
	for _, j := range js {
		out = append(out, jobSummaryOf(j))
	}
	return out
}

func jobOf(j *market.Job) *Job {
	out := &Job{JobSummary: jobSummaryOf(j), Events: make([]Event, 0, len(j.Events)), Partition: partitionOf(j.Partition)}
	for _, b := range j.Bids {
		out.Bids = append(out.Bids, bidOf(b))
	}
	for _, d := range j.Declines {
		out.Declines = append(out.Declines, declineOf(d))
	}
	for _, a := range j.Awards {
		out.Awards = append(out.Awards, awardOf(a))
	}
	for _, r := range j.Receipts {
		out.Receipts = append(out.Receipts, receiptOf(r))
	}
	for _, r := range j.Late {
		out.Late = append(out.Late, receiptOf(r))
	}
	for _, e := range j.Events {
		out.Events = append(out.Events, eventOf(e))
	}
	out.Verification = verificationOf(j)
	return out
}

func verificationOf(j *market.Job) *Verification {
	v := j.Verification
	if v == nil {
		return nil
	}
	out := &Verification{Verified: v.Verified, Replicas: v.Replicas, Quorum: v.Quorum, Groups: v.Groups}
	for _, id := range v.Agreeing {
		for _, r := range j.Receipts {
			if r.AwardID == id {
				out.Agreeing = append(out.Agreeing, r.Executor)
			}
		}
	}
	best := 0
	if len(v.Groups) > 0 {
		best = len(v.Groups[0])
	}
	word := "verified"
	if !v.Verified {
		word = "unverified"
	}
	out.Summary = fmt.Sprintf("%s %d/%d", word, best, len(j.Receipts))
	return out
}

func bidOf(b market.BidInfo) Bid {
	return Bid{Peer: b.Peer, LocalBytes: b.LocalBytes, TotalBytes: b.TotalBytes, FreeSlots: b.FreeSlots,
		QueueDepth: b.QueueDepth, EstStart: b.EstStart, Received: b.Received}
}

func declineOf(d market.DeclineInfo) Decline {
	return Decline{Peer: d.Peer, Code: d.Code, Reason: d.Reason, Time: d.Time}
}

func awardOf(a market.AwardInfo) Award {
	out := Award{ID: a.ID, Executor: a.Executor, State: a.State, Time: a.Time, Accepted: a.Accepted,
		Error: a.Error, ErrorCode: storedCode(a.ErrorCode, a.Error)}
	for _, p := range a.Phases {
		out.Phases = append(out.Phases, Phase{Phase: p.Phase, Start: p.Start, Done: p.Done, Total: p.Total})
	}
	return out
}

func receiptOf(r market.ReceiptInfo) Receipt {
	return Receipt{CID: r.CID, AwardID: r.AwardID, Executor: r.Executor, ExitCode: r.ExitCode,
		Error: r.Error, ErrorCode: storedCode(r.ErrorCode, r.Error), Outputs: r.Outputs, Stdout: r.Stdout, Stderr: r.Stderr,
		Started: r.Started, Finished: r.Finished, Late: r.Late, Reused: r.Reused, Imports: importsOf(r.Imports), Published: publishedOf(r.Published)}
}

func importsOf(in []market.ImportInfo) []Import {
	var out []Import
	for _, i := range in {
		out = append(out, Import{Source: i.Source, Path: i.Path, CID: i.CID, ETag: i.ETag, LastModified: i.LastModified, Reused: i.Reused})
	}
	return out
}

func publishedOf(in []market.PublishInfo) []Publish {
	var out []Publish
	for _, p := range in {
		out = append(out, Publish{Target: p.Target, Required: p.Required, OK: p.OK, Error: p.Error})
	}
	return out
}

func eventOf(e market.Event) Event {
	return Event{Time: e.Time, Type: e.Type, State: JobState(e.State), Peer: e.Peer, Message: e.Message}
}

// storedCode is the code a record stores beside its message, or, for a
// record written before records stored one, the code its message starts
// with.
func storedCode(code bidding.Code, msg string) string {
	if code != "" {
		return string(code)
	}
	return errorCode(msg)
}

// errorCode returns the code msg starts with ("timeout: ran past 5s",
// "fetch_failed", "no_capacity: queue full; …"), or "" when msg is free
// text that starts with no known code (bidding.KnownCode: the codes of
// docs/protocol.md §6).
func errorCode(msg string) string {
	head := msg
	if i := strings.IndexByte(msg, ':'); i >= 0 {
		head = msg[:i]
	}
	if bidding.KnownCode(bidding.Code(head)) {
		return head
	}
	return ""
}
