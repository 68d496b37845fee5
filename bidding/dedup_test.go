package bidding

import (
	"errors"
	"testing"
	"time"
)

func TestDedup(t *testing.T) {
	req, exe, other := newIdentity(t, 1), newIdentity(t, 2), newIdentity(t, 3)
	_, _, job := testSpec(t)
	award := func() *Award { return NewAward(job, nil, req.id, exe.id, nil, 1, t0) }
	d := NewDedup(2)

	a := award()
	if err := d.Check(a, exe.id, t0.Add(time.Second)); err != nil {
		t.Fatalf("first: %v", err)
	}
	tests := []struct {
		name string
		a    *Award
		self string
		now  time.Time
		err  error
		code Code
	}{
		{"replayed award", a, "", t0.Add(2 * time.Second), ErrAwardReplayed, CodeAwardReplayed},
		{"expired award", award(), "", t0.Add(DefaultAwardTTL), ErrAwardExpired, CodeAwardExpired},
		{"replay after expiry is expired", a, "", t0.Add(time.Hour), ErrAwardExpired, CodeAwardExpired},
		{"addressed to another", award(), "other", t0, ErrWrongExecutor, CodeWrongExecutor},
		{"from the future", func() *Award {
			x := award()
			x.IssuedAt = t0.Add(time.Hour)
			x.Expires = x.IssuedAt.Add(time.Second)
			return x
		}(), "", t0, ErrAwardFromFuture, CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			self := exe.id
			if tt.self == "other" {
				self = other.id
			}
			err := d.Check(tt.a, self, tt.now)
			var r *Refusal
			if !errors.Is(err, tt.err) || !errors.As(err, &r) || r.Code != tt.code {
				t.Fatalf("Check: %v, want %v (%s)", err, tt.err, tt.code)
			}
		})
	}

	// The set is bounded: with 2 live awards a third is refused, until the
	// first ones expire.
	if err := d.Check(award(), exe.id, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := d.Check(award(), exe.id, t0.Add(time.Second)); !errors.Is(err, ErrDedupFull) {
		t.Fatalf("full: %v", err)
	}
	later := t0.Add(DefaultAwardTTL + MaxClockSkew)
	if d.Seen(a.AwardID, later) || d.Len() != 0 {
		t.Fatalf("entries kept after expiry: %d", d.Len())
	}
	b := NewAward(job, nil, req.id, exe.id, nil, 1, later)
	if err := d.Check(b, exe.id, later); err != nil {
		t.Fatalf("after purge: %v", err)
	}
}

func TestDedupRemember(t *testing.T) {
	req, exe := newIdentity(t, 1), newIdentity(t, 2)
	_, _, job := testSpec(t)
	a := NewAward(job, nil, req.id, exe.id, nil, 1, t0)
	d := NewDedup(0)
	if !d.Remember(a.AwardID, a.Expires, t0) {
		t.Fatal("Remember refused")
	}
	if err := d.Check(a, exe.id, t0); !errors.Is(err, ErrAwardReplayed) {
		t.Fatalf("Check after Remember: %v", err)
	}
}
