// Package netctl lets an instance ask the runner to act on the run: kill
// instances, split the network into sides, heal it. It is Shoal's
// counterpart of Testground's sidecar network configuration and travels
// the same way, over the sync service: the instance publishes a Request on
// Topic, the runner applies it and publishes a Result on ResultTopic.
//
// Instances are named by their runner index (EnvInstanceIndex). Runners
// support: sim (all ops), local:exec (kill), local:docker (all ops).
package netctl

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	tgsync "github.com/shoalnet/shoal/testground/sdk/sync"
)

// Topics of the exchange, scoped to the run like every topic.
const (
	Topic       = "shoal:netctl"
	ResultTopic = "shoal:netctl:results"
)

// Operations.
const (
	// OpKill kills Instances at once (SIGKILL, container kill, or in the
	// sim runner: links cut and the instance's context cancelled).
	OpKill = "kill"
	// OpPartition splits the network into Groups of instances that can
	// reach each other only within their group. Instances not listed keep
	// the first group's side.
	OpPartition = "partition"
	// OpHeal undoes a partition.
	OpHeal = "heal"
)

// Request is one action.
type Request struct {
	ID        string  `json:"id"`
	Op        string  `json:"op"`
	Instances []int   `json:"instances,omitempty"`
	Groups    [][]int `json:"groups,omitempty"`
}

// Result answers the request with the same ID.
type Result struct {
	ID    string `json:"id"`
	Error string `json:"error,omitempty"`
}

// ErrUnsupported is wrapped by runners that cannot perform an operation.
var ErrUnsupported = errors.New("not supported by this runner")

// Check validates a request.
func (r *Request) Check(instances int) error {
	in := func(i int) error {
		if i < 0 || i >= instances {
			return fmt.Errorf("netctl: instance %d out of range [0,%d)", i, instances)
		}
		return nil
	}
	switch r.Op {
	case OpKill:
		if len(r.Instances) == 0 {
			return errors.New("netctl: kill names no instance")
		}
		for _, i := range r.Instances {
			if err := in(i); err != nil {
				return err
			}
		}
	case OpPartition:
		if len(r.Groups) < 2 {
			return errors.New("netctl: a partition needs at least two groups")
		}
		seen := map[int]bool{}
		for _, g := range r.Groups {
			for _, i := range g {
				if err := in(i); err != nil {
					return err
				}
				if seen[i] {
					return fmt.Errorf("netctl: instance %d is in two groups", i)
				}
				seen[i] = true
			}
		}
	case OpHeal:
	default:
		return fmt.Errorf("netctl: unknown op %q (want %s, %s or %s)", r.Op, OpKill, OpPartition, OpHeal)
	}
	return nil
}

// Do publishes req (its ID is filled in when empty) and waits for the
// runner's result. A kill that names the caller may never return: the
// caller is gone.
func Do(ctx context.Context, c tgsync.Client, req Request) error {
	if req.ID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		req.ID = hex.EncodeToString(b[:])
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub, err := c.Subscribe(ctx, ResultTopic)
	if err != nil {
		return err
	}
	if _, err := c.Publish(ctx, Topic, req); err != nil {
		return err
	}
	for {
		var r Result
		if err := sub.Next(ctx, &r); err != nil {
			return fmt.Errorf("netctl %s: %w", req.Op, err)
		}
		if r.ID != req.ID {
			continue
		}
		if r.Error != "" {
			return fmt.Errorf("netctl %s: %s", req.Op, r.Error)
		}
		return nil
	}
}
