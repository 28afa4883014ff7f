//go:build unix

package gateway

import "syscall"

// openFileLimit is the process's open-file limit (Go raises the soft limit
// to the hard one at start-up).
func openFileLimit() (uint64, bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, false
	}
	return uint64(rl.Cur), true
}
