//go:build !unix

package gateway

// openFileLimit is unknown here: --max-connections applies as given.
func openFileLimit() (uint64, bool) { return 0, false }
