package api

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
)

// split cuts b into buffers at the given offsets, as frames arrive.
func split(b []byte, at ...int) mem.BufferSlice {
	var s mem.BufferSlice
	prev := 0
	for _, i := range at {
		if i > prev && i < len(b) {
			s = append(s, mem.SliceBuffer(b[prev:i]))
			prev = i
		}
	}
	return append(s, mem.SliceBuffer(b[prev:]))
}

func chunkMsg(b []byte) []byte {
	raw, _ := proto.Marshal(&vaultv1.UploadDocumentRequest{Payload: &vaultv1.UploadDocumentRequest_Chunk{Chunk: b}})
	return raw
}

// sameAsProto fails when Codec decodes b (cut at the offsets) otherwise
// than proto, into a fresh message and into one that held a chunk.
func sameAsProto(t *testing.T, b []byte, at ...int) {
	t.Helper()
	want := &vaultv1.UploadDocumentRequest{}
	errWant := proto.Unmarshal(b, want)
	for _, got := range []*vaultv1.UploadDocumentRequest{{}, {Payload: &vaultv1.UploadDocumentRequest_Chunk{Chunk: make([]byte, 64, 1<<10)}}} {
		errGot := Codec{}.Unmarshal(split(b, at...), got)
		if (errGot == nil) != (errWant == nil) || errWant == nil && !proto.Equal(got, want) {
			t.Fatalf("%x cut at %v: codec %v (%v), proto %v (%v)", b, at, got, errGot, want, errWant)
		}
	}
}

// TestCodecDecodesAsProto: issue 9 — every message, cut into frames
// anywhere, decodes as the proto codec decodes it.
func TestCodecDecodesAsProto(t *testing.T) {
	meta, _ := proto.Marshal(&vaultv1.UploadDocumentRequest{Payload: &vaultv1.UploadDocumentRequest_Metadata{
		Metadata: &vaultv1.UploadDocumentMetadata{Parent: "companies/c1", FileName: "a.pdf"}}})
	big := chunkMsg(bytes.Repeat([]byte("%PDF"), 300_000))
	for _, b := range [][]byte{chunkMsg([]byte("%PDF-1.7")), chunkMsg(nil), big, meta, append(chunkMsg([]byte("a")), chunkMsg([]byte("b"))...),
		append(meta, chunkMsg([]byte("x"))...), append(chunkMsg([]byte("x")), meta...), {0x12, 0x05, 'a'}, {0x12}, {}, {0x12, 0xff}} {
		for _, at := range [][]int{nil, {1}, {2}, {3}, {1, 2, 3}, {len(b) / 2}, {4, len(b) - 1}} {
			sameAsProto(t, b, at...)
		}
	}
}

// TestCodecReusesTheMessagesBuffer: chunks decoded into one message reuse
// its buffer (chunkReader's message), a larger chunk gets a new one, and
// two messages never share one.
func TestCodecReusesTheMessagesBuffer(t *testing.T) {
	var m vaultv1.UploadDocumentRequest
	_ = Codec{}.Unmarshal(split(chunkMsg(bytes.Repeat([]byte{1}, 1000))), &m)
	first := m.GetChunk()
	_ = Codec{}.Unmarshal(split(chunkMsg([]byte("second")), 3), &m)
	if &m.GetChunk()[0] != &first[0] || string(m.GetChunk()) != "second" {
		t.Fatalf("the message's buffer was not reused: %q", m.GetChunk())
	}
	_ = Codec{}.Unmarshal(split(chunkMsg(bytes.Repeat([]byte{2}, 2000))), &m)
	if len(m.GetChunk()) != 2000 || m.GetChunk()[1999] != 2 {
		t.Fatalf("a larger chunk: %d bytes", len(m.GetChunk()))
	}
	var other vaultv1.UploadDocumentRequest
	_ = Codec{}.Unmarshal(split(chunkMsg([]byte("other"))), &other)
	if &other.GetChunk()[0] == &m.GetChunk()[0] || string(m.GetChunk()[:1]) != "\x02" {
		t.Fatal("two messages share a buffer")
	}
}

// FuzzCodec: any bytes, cut anywhere, decode as proto decodes them.
func FuzzCodec(f *testing.F) {
	f.Add(chunkMsg([]byte("%PDF-1.7")), 1)
	f.Add([]byte{0x0a, 0x00, 0x12, 0x01, 'x'}, 2)
	f.Fuzz(func(t *testing.T, b []byte, at int) { sameAsProto(t, b, at) })
}
