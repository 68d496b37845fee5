// Package logging gives each package a slog logger that follows the process'
// default handler even when main installs it after package initialisation.
package logging

import (
	"context"
	"log/slog"
)

// Logger returns a logger tagged pkg=name that writes through whatever
// slog.Default() is at the time of each call.
func Logger(name string) *slog.Logger {
	return slog.New(&dynamic{attrs: []slog.Attr{slog.String("pkg", name)}})
}

type dynamic struct {
	attrs []slog.Attr
	group string
}

func (d *dynamic) handler() slog.Handler {
	h := slog.Default().Handler().WithAttrs(d.attrs)
	if d.group != "" {
		h = h.WithGroup(d.group)
	}
	return h
}

func (d *dynamic) Enabled(ctx context.Context, l slog.Level) bool {
	return slog.Default().Handler().Enabled(ctx, l)
}

func (d *dynamic) Handle(ctx context.Context, r slog.Record) error {
	return d.handler().Handle(ctx, r)
}

func (d *dynamic) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &dynamic{attrs: append(append([]slog.Attr{}, d.attrs...), attrs...), group: d.group}
}

func (d *dynamic) WithGroup(name string) slog.Handler {
	g := name
	if d.group != "" {
		g = d.group + "." + name
	}
	return &dynamic{attrs: d.attrs, group: g}
}
