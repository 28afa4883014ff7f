package api

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/vigil/vigil/services/runtime/bufpool"
	"github.com/vigil/vigil/services/runtime/errs"
)

// downloadChunk is the size of each chunk of a download stream.
const downloadChunk = 1 << 20

// Chunks lends a download's chunk buffers to gRPC (issue 9). A download
// reads each chunk into a buffer of its pool, one chunk ahead of the
// send, so that the disk works while the network does; Codec.Marshal
// hands that very buffer to gRPC behind the message's few header bytes,
// where the proto codec copied it into a zeroed buffer of its own (a
// fifth of the vault's CPU for a download), and gRPC returns it to the
// pool once written. Only buffers lent here are taken that way: the
// codec finds a chunk's loan by the buffer's first byte.
//
// A loan is taken at most once, by the codec or by the lender's reclaim,
// and reclaim takes only its own loan: gRPC may write and free a taken
// buffer before Send returns, and another download may already have got
// it from the pool and lent it again under the same first byte.
type Chunks struct {
	pool *bufpool.Pool
	lent sync.Map // *byte (a lent buffer's first byte) → *loan
}

// loan is one lending of a buffer: its identity is the pointer, new for
// every lending, so that a loan ended and begun again is another loan.
// It keeps the buffer's first byte and length as lent: once the codec
// has taken the buffer, gRPC may return it to the pool and another
// download change it, while the lender still holds the loan.
type loan struct {
	buf   *[]byte
	first *byte
	n     int
}

// NewChunks returns an empty lender.
func NewChunks() *Chunks { return &Chunks{pool: bufpool.New()} }

// lend records b as lent and returns its bytes, to be sent as a chunk,
// and the loan, for reclaim.
func (c *Chunks) lend(b *[]byte) ([]byte, *loan) {
	l := &loan{buf: b, first: &(*b)[0], n: len(*b)}
	c.lent.Store(l.first, l)
	return *b, l
}

// take ends the loan of the buffer chunk is exactly, and returns the
// buffer; for the codec.
func (c *Chunks) take(chunk []byte) (*[]byte, bool) {
	if c == nil || len(chunk) == 0 {
		return nil, false
	}
	v, ok := c.lent.Load(&chunk[0])
	if !ok {
		return nil, false
	}
	l := v.(*loan)
	if l.n != len(chunk) || !c.lent.CompareAndDelete(l.first, l) {
		return nil, false // a part of a lent buffer, or a loan ended meanwhile
	}
	return l.buf, true
}

// reclaim ends loan l if it is still running (the codec never took it:
// the send failed before marshalling, or another codec copied the chunk)
// and returns its buffer to the pool; a loan the codec took is gRPC's.
func (c *Chunks) reclaim(l *loan) {
	if c.lent.CompareAndDelete(l.first, l) {
		c.pool.Put(l.buf)
	}
}

// marshal encodes a download response that holds only chunk (field 2 of
// both download responses) as its header and the lent buffer itself, or
// reports that chunk is not a lent buffer.
func (c *Chunks) marshal(chunk []byte) (mem.BufferSlice, bool) {
	if c == nil {
		return nil, false
	}
	b, ok := c.take(chunk)
	if !ok {
		return nil, false
	}
	head := protowire.AppendVarint(protowire.AppendTag(make([]byte, 0, 1+binary.MaxVarintLen64), 2, protowire.BytesType), uint64(len(chunk)))
	return mem.BufferSlice{mem.SliceBuffer(head), mem.NewBuffer(b, c.pool)}, true
}

// stream reads body chunk by chunk, one chunk ahead of send, and sends
// each chunk in a lent buffer. It returns send's first error as it is
// (after which it reads no more), or a read error as INTERNAL; body is no
// longer read when it returns.
func (c *Chunks) stream(body io.Reader, send func(chunk []byte) error) error {
	filled := make(chan *[]byte, 1)
	stop := make(chan struct{})
	var readErr error
	go func() {
		defer close(filled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			b := c.pool.Get(downloadChunk)
			n, err := io.ReadFull(body, *b)
			if n == 0 {
				c.pool.Put(b)
			} else {
				*b = (*b)[:n]
				select {
				case filled <- b:
				case <-stop:
					c.pool.Put(b)
					return
				}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return
			}
			if err != nil {
				readErr = err // read by stream after filled is closed
				return
			}
		}
	}()
	var sendErr error
	for b := range filled {
		if sendErr != nil {
			c.pool.Put(b)
			continue
		}
		chunk, l := c.lend(b)
		if err := send(chunk); err != nil {
			sendErr = err
			close(stop)
		}
		c.reclaim(l)
	}
	if sendErr != nil {
		return sendErr
	}
	if readErr != nil {
		return errs.Internal(readErr)
	}
	return nil
}
