package server

// ValidRequestID reports whether a caller's request id is kept as is: the
// rule every service applies to x-request-id (see withRequestID), exported so
// that the gateway applies the same one to X-Request-Id.
func ValidRequestID(id string) bool { return validRequestID(id) }
