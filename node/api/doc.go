// Package api is the daemon's HTTP API: the server that exposes a running
// node, and the client the CLI uses. Responses are JSON; errors are JSON
// objects with a stable code and a message. The server binds to loopback
// unless a token is configured.
package api
