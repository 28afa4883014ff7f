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
// codec finds a chunk's buffer by its first byte in the lent set.
type Chunks struct {
	pool *bufpool.Pool
	lent sync.Map // *byte (a lent buffer's first byte) → *[]byte
}

// NewChunks returns an empty lender.
func NewChunks() *Chunks { return &Chunks{pool: bufpool.New()} }

// lend records b as lent and returns its bytes, to be sent as a chunk.
func (c *Chunks) lend(b *[]byte) []byte {
	c.lent.Store(&(*b)[0], b)
	return *b
}

// take removes chunk from the lent set and returns its buffer, when chunk
// is exactly a lent buffer.
func (c *Chunks) take(chunk []byte) (*[]byte, bool) {
	if c == nil || len(chunk) == 0 {
		return nil, false
	}
	v, ok := c.lent.LoadAndDelete(&chunk[0])
	if !ok {
		return nil, false
	}
	b := v.(*[]byte)
	if len(*b) != len(chunk) { // a part of a lent buffer: not what was lent
		c.lent.Store(&chunk[0], b)
		return nil, false
	}
	return b, true
}

// reclaim returns chunk's buffer to the pool if it is still lent (the
// codec never took it: the send failed before marshalling, or another
// codec copied it).
func (c *Chunks) reclaim(chunk []byte) {
	if b, ok := c.take(chunk); ok {
		c.pool.Put(b)
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
		chunk := c.lend(b)
		if err := send(chunk); err != nil {
			sendErr = err
			close(stop)
		}
		c.reclaim(chunk)
	}
	if sendErr != nil {
		return sendErr
	}
	if readErr != nil {
		return errs.Internal(readErr)
	}
	return nil
}
