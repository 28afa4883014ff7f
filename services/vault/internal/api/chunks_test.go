package api

import (
	"bytes"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/errs"
)

func lentCount(c *Chunks) int {
	n := 0
	c.lent.Range(func(_, _ any) bool { n++; return true })
	return n
}

// TestLentChunkMarshalsAsProto: issue 9 — a download response holding a
// lent chunk encodes to the proto codec's bytes, in the lent buffer itself
// (no copy), and is taken from the lent set; anything else is the proto
// codec's, and a slice of a lent buffer is not taken.
func TestLentChunkMarshalsAsProto(t *testing.T) {
	chunks := NewChunks()
	codec := NewCodec(chunks)
	for _, size := range []int{1, 127, 128, 5000, downloadChunk} {
		b := chunks.pool.Get(size)
		for i := range *b {
			(*b)[i] = byte(i * 7)
		}
		chunk, _ := chunks.lend(b)
		for _, m := range []proto.Message{
			&vaultv1.DownloadDocumentResponse{Payload: &vaultv1.DownloadDocumentResponse_Chunk{Chunk: chunk}},
			&vaultv1.DownloadSupplierDocumentResponse{Payload: &vaultv1.DownloadSupplierDocumentResponse_Chunk{Chunk: chunk}},
		} {
			want, _ := proto.Marshal(m)
			got, err := codec.Marshal(m)
			if err != nil || !bytes.Equal(got.Materialize(), want) {
				t.Fatalf("%d bytes, %T: codec %x… (%v), proto %x…", size, m, got.Materialize()[:4], err, want[:4])
			}
			got.Free()
			chunk, _ = chunks.lend(b) // lent again for the second message
		}
		if _, ok := chunks.take(chunk); !ok {
			t.Fatal("the last loan is not running")
		}
	}
	if n := lentCount(chunks); n != 0 {
		t.Fatalf("%d buffers still lent", n)
	}

	// The lent buffer itself goes to gRPC: a change to it shows.
	b := chunks.pool.Get(4096)
	chunk, _ := chunks.lend(b)
	out, _ := codec.Marshal(&vaultv1.DownloadDocumentResponse{Payload: &vaultv1.DownloadDocumentResponse_Chunk{Chunk: chunk}})
	chunk[0] = 0xEE
	if out.Materialize()[3] != 0xEE { // tag, two length bytes, then the chunk
		t.Fatal("the chunk was copied")
	}
	if n := lentCount(chunks); n != 0 {
		t.Fatalf("marshalled, yet %d buffers still lent", n)
	}

	// A part of a lent buffer, and bytes never lent, are the proto codec's.
	b = chunks.pool.Get(4096)
	chunk, l := chunks.lend(b)
	part := &vaultv1.DownloadDocumentResponse{Payload: &vaultv1.DownloadDocumentResponse_Chunk{Chunk: chunk[:100]}}
	out, _ = codec.Marshal(part)
	chunk[0] ^= 0xFF
	if want, _ := proto.Marshal(part); bytes.Equal(out.Materialize(), want) {
		t.Fatal("a part of a lent buffer was taken as the buffer")
	}
	if n := lentCount(chunks); n != 1 {
		t.Fatalf("the lent buffer left the set: %d lent", n)
	}
	chunks.reclaim(l)
	other := &vaultv1.DownloadDocumentResponse{Payload: &vaultv1.DownloadDocumentResponse_Chunk{Chunk: []byte("not lent")}}
	out, _ = Codec{}.Marshal(other)
	if want, _ := proto.Marshal(other); !bytes.Equal(out.Materialize(), want) {
		t.Fatal("the codec without a lender")
	}
}

// countingReader reads size bytes of a pattern and counts its reads.
type countingReader struct {
	size, off int
	reads     atomic.Int32
	err       error // returned after size bytes instead of io.EOF
}

func (r *countingReader) Read(p []byte) (int, error) {
	r.reads.Add(1)
	if r.off == r.size {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	n := min(len(p), r.size-r.off)
	for i := range n {
		p[i] = byte((r.off + i) % 251)
	}
	r.off += n
	return n, nil
}

// TestStreamSendsEveryByteOnceAndStops: issue 9 — the bytes arrive whole
// and in order, chunk by chunk; a failed send stops the reading (at most
// the chunk read ahead) and is returned as it is; a read error is
// INTERNAL; no buffer stays lent.
func TestStreamSendsEveryByteOnceAndStops(t *testing.T) {
	chunks := NewChunks()
	const size = 5*downloadChunk/2 + 17
	r := &countingReader{size: size}
	var got []byte
	sends := 0
	err := chunks.stream(r, func(chunk []byte) error {
		sends++
		got = append(got, chunk...) // as a codec that copies it: stream reclaims the loan
		return nil
	})
	if err != nil || len(got) != size || sends != 3 {
		t.Fatalf("stream: %v, %d bytes in %d sends", err, len(got), sends)
	}
	for i, c := range got {
		if c != byte(i%251) {
			t.Fatalf("byte %d: %d", i, c)
		}
	}

	big := &countingReader{size: 50 * downloadChunk}
	failed := errors.New("client gone")
	sends = 0
	err = chunks.stream(big, func([]byte) error {
		sends++
		if sends == 2 {
			return failed
		}
		return nil
	})
	if !errors.Is(err, failed) || sends != 2 {
		t.Fatalf("after a failed send: %v, %d sends", err, sends)
	}
	if read := big.off / downloadChunk; read > 4 {
		t.Fatalf("%d chunks read for 2 sends: the reading went on", read)
	}

	bad := &countingReader{size: 10, err: errors.New("disk on fire")}
	err = chunks.stream(bad, func([]byte) error { return nil })
	if st, ok := errs.ToStatus(err); !ok || st.Code() != codes.Internal {
		t.Fatalf("a read error: %v, want INTERNAL", err)
	}
	if n := lentCount(chunks); n != 0 {
		t.Fatalf("%d buffers still lent", n)
	}
}
