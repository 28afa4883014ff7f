//go:build linux

package localfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing a range of f to disk
// now, without waiting for it (sync_file_range, SYNC_FILE_RANGE_WRITE).
// It is advice: a failure changes nothing, as Publish's Sync still
// decides durability.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
