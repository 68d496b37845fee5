// Package docker runs exec tasks as containers through the Docker Engine
// API (github.com/moby/moby/client), on the engine this node talks to
// (DOCKER_HOST and the other client environment variables, else the local
// socket).
//
// # Images
//
// No registry is used. DockerSpec.Image must be present on the engine, or
// DockerSpec.ImageTar must name a `docker save` tarball, which is loaded when
// the image is missing (with no Image, the first image the tarball holds is
// run). A missing image fails with an error wrapping [exec.ErrImageNotFound]
// that names it. Containers are created from image IDs. A tarball never
// names images on the engine: it is loaded with its names replaced by
// [LoadNamespace] ones (a tarball claiming alpine:3.20 does not replace
// alpine:3.20), and Image is only looked up among the names it claimed.
//
// # Sandbox
//
// Every container runs with network mode "none", all capabilities dropped,
// no-new-privileges, the task's CPU (NanoCPUs), memory (no swap) and pids
// limits, a read-only root filesystem with a tmpfs /tmp of the task's disk
// limit, the inputs bound read-only (a source that is a symlink is refused
// with [ErrSymlink]: the engine would follow it on the host), the outputs in
// a tmpfs of the disk limit copied into OutputsDir after the exit (more
// than the limit: [exec.ErrDiskLimit]): a tmpfs the executor mounts on the
// host beside OutputsDir when it may mount and the engine sees its mounts
// (hosttmpfs.go), else a tmpfs volume held by a keeper container
// (outputs.go, and always with [WithOutputsVolume]),
// as the node's own uid:gid (so outputs belong to the node; see [WithUser]),
// and no log driver (output is streamed over an attach, so a chatty program
// cannot fill the engine's disk).
//
// # Lifecycle
//
// A container is created, attached, started and waited for; when the task's
// Timeout elapses, the caller's context is done or the executor closes, it is
// killed (SIGKILL). It is always force-removed afterwards, under a fresh
// context, whatever happened. An OOM-killed container is reported as
// [exec.ErrMemoryLimit]: one the engine flags (State.OOMKilled), and one
// that exited by a SIGKILL (137) that the executor did not send, since the
// engine misses some OOM kills under load and nothing inside a container
// can SIGKILL its init (an operator's docker kill -s KILL reads the same).
// Containers carry the labels [LabelManaged],
// [LabelTask] and, with [WithInstance], [LabelInstance]; [Executor.ReapOrphans]
// removes those left behind by a crashed node, and unmounts the outputs
// tmpfs it left (source [MountSource]). With [WithWatchdog], a
// watchdog process per run removes them when the node's process dies, or at
// the task's Timeout plus [WatchdogGrace], without the node.
//
// A program killed by a signal exits with 128+signal, as in a shell.
//
// The package depends only on package exec from this repository, and on
// internal/untar, which extracts the outputs archive of a keeper.
package docker
