// Package api is the daemon's HTTP API: the server that exposes a running
// node, and the client the CLI uses. Responses are JSON; errors are JSON
// objects with a stable code and a message. Every request carries the
// repo's API token (Authorization: Bearer, the file $REPO/api.token), names
// the API's own address as Host, comes from no other web origin, and a
// mutating call has a media type no web page can send without a preflight
// (guard.go): neither web pages (CSRF, DNS rebinding) nor other local users
// can drive the daemon.
package api
