// Package fetchurl downloads the content of http and https URLs for import
// into the content store, under a policy a job cannot loosen: a size bound
// checked before (Content-Length) and during the download, a bound on the
// whole download and on a stalled one, a bounded number of redirects, and
// no private, loopback or link-local destination unless the operator
// allows it. The destination check runs at dial time on the address
// actually dialled, after DNS resolution, so a name that resolves to a
// public address when checked and a private one when used (DNS rebinding)
// cannot get through. Conditional requests (If-None-Match,
// If-Modified-Since) let a caller skip a download whose validator has not
// changed.
//
// It imports only the standard library and must not import bidding, node
// or exec: it knows nothing of jobs.
package fetchurl
