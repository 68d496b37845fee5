package runctx

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shoalnet/shoal/exec"
)

func TestStopReason(t *testing.T) {
	tests := []struct {
		name  string
		setup func() (ctx context.Context, cleanup func())
		want  []error
		not   error
	}{
		{"timeout", func() (context.Context, func()) {
			prep, c1 := Prepare(context.Background(), context.Background())
			run, c2 := Run(prep, time.Millisecond)
			<-run.Done()
			return run, func() { c2(); c1() }
		}, []error{exec.ErrTimeout}, exec.ErrKilled},
		{"caller cancel", func() (context.Context, func()) {
			parent, cancel := context.WithCancel(context.Background())
			prep, c1 := Prepare(parent, context.Background())
			run, c2 := Run(prep, time.Hour)
			cancel()
			return run, func() { c2(); c1() }
		}, []error{exec.ErrKilled, context.Canceled}, exec.ErrTimeout},
		{"caller deadline", func() (context.Context, func()) {
			parent, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			prep, c1 := Prepare(parent, context.Background())
			<-prep.Done()
			return prep, func() { c1(); cancel() }
		}, []error{exec.ErrKilled, context.DeadlineExceeded}, exec.ErrTimeout},
		{"executor closed", func() (context.Context, func()) {
			closing, closeAll := context.WithCancel(context.Background())
			prep, c1 := Prepare(context.Background(), closing)
			closeAll()
			<-prep.Done()
			return prep, c1
		}, []error{exec.ErrKilled, exec.ErrClosed}, exec.ErrTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cleanup := tc.setup()
			defer cleanup()
			err := StopReason(ctx, time.Millisecond)
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("StopReason = %v, want it to wrap %v", err, w)
				}
			}
			if errors.Is(err, tc.not) {
				t.Errorf("StopReason = %v, must not wrap %v", err, tc.not)
			}
		})
	}
}
