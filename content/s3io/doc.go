// Package s3io moves files between S3-compatible object stores and local
// directories, for a node's S3 inputs (download a key or every key under a
// prefix) and S3 publisher (upload a directory tree under a prefix). It
// uses minio-go, and its connections go through fetchurl's dialer, so an
// endpoint named by a job obeys the same destination policy as a URL
// download.
//
// Credentials come only from the node's environment (the standard
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN variables,
// then the shared credentials file), and are sent only to the endpoint the
// operator configured: a job that names another endpoint gets anonymous
// requests, so it cannot collect the node's signed requests.
//
// It must not import bidding, node or exec.
package s3io
