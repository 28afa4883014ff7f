// Package bufpool is the gRPC buffer pool every service's connections
// use: gRPC's own tiered pool, but without zeroing a buffer each time it
// is handed out again. gRPC reads each HTTP/2 data frame into a buffer of
// its pool and marshals each large message into one; both overwrite the
// whole length they ask for, so the zeroing protects nothing they read,
// and for a document's bytes it was an eighth of the gateway's CPU
// (issue 9: 20 MiB downloaded is 1,280 frames of 16 KiB, each cleared
// before it was filled). gRPC uses such pools itself for its transports'
// read buffers, and is moving DATA frames to one (grpc-go pull request
// 9421: "the framer always fully overwrites the buffer").
package bufpool

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

// Tiers are powers of two from 256 B to 4 MiB (a download's chunk and
// its header fit the largest); a larger buffer is allocated and left to
// the garbage collector.
const (
	minShift = 8
	maxShift = 22
)

// Pool is a mem.BufferPool that reuses buffers without zeroing them.
type Pool struct {
	tiers [maxShift - minShift + 1]sync.Pool
}

var _ mem.BufferPool = (*Pool)(nil)

// New returns an empty pool.
func New() *Pool { return &Pool{} }

// tier is the index of the smallest tier holding n bytes (-1: none).
func tier(n int) int {
	if n <= 1<<minShift {
		return 0
	}
	shift := bits.Len(uint(n - 1))
	if shift > maxShift {
		return -1
	}
	return shift - minShift
}

// Get returns a buffer of length n; its bytes are whatever they were.
func (p *Pool) Get(n int) *[]byte {
	t := tier(n)
	if t < 0 {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.tiers[t].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<(t+minShift))
	return &b
}

// Put returns a buffer got from Get (or a prefix of one) to its tier.
func (p *Pool) Put(b *[]byte) {
	c := cap(*b)
	t := tier(c)
	if t < 0 || c != 1<<(t+minShift) {
		return // not one of the tiers' buffers
	}
	p.tiers[t].Put(b)
}
