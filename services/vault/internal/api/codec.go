package api

import (
	"encoding/binary"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // the proto codec, which Codec extends
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
)

// Codec is the vault server's codec (app installs it): the proto codec,
// but for an upload's chunks. Those it copies once, from the connection's
// frames into the chunk buffer of the message it decodes into, which
// chunkReader gives again for every chunk of its upload: one buffer per
// upload, reused. The proto codec gathered the frames into a pooled
// buffer (zeroed on each use), then copied the chunk into new memory, a
// MiB per chunk for the garbage collector: a third of the vault's CPU for
// an upload (issue 9). The result is the proto codec's: any other message,
// or a chunk message that is not exactly one chunk field, goes to it.
//
// Marshal is the proto codec's too, but for a download's chunk lent by
// Chunks: that buffer goes to gRPC as it is, behind its header.
type Codec struct{ chunks *Chunks }

// NewCodec returns the codec that takes chunks lent by chunks.
func NewCodec(chunks *Chunks) Codec { return Codec{chunks: chunks} }

var protoCodec = encoding.GetCodecV2("proto")

// Name is the proto codec's, for the content type.
func (Codec) Name() string { return "proto" }

// Marshal encodes v as the proto codec does.
func (c Codec) Marshal(v any) (mem.BufferSlice, error) {
	var chunk []byte
	switch m := v.(type) {
	case *vaultv1.DownloadDocumentResponse:
		chunk = m.GetChunk()
	case *vaultv1.DownloadSupplierDocumentResponse:
		chunk = m.GetChunk()
	}
	if out, ok := c.chunks.marshal(chunk); ok {
		return out, nil
	}
	return protoCodec.Marshal(v)
}

// Unmarshal decodes data into v.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*vaultv1.UploadDocumentRequest)
	if !ok {
		return protoCodec.Unmarshal(data, v)
	}
	off, size, ok := chunkField(data)
	if !ok {
		return protoCodec.Unmarshal(data, v)
	}
	// The message's own chunk buffer, when it has one large enough.
	c, _ := m.Payload.(*vaultv1.UploadDocumentRequest_Chunk)
	var buf []byte
	if c != nil && cap(c.Chunk) >= size {
		buf = c.Chunk[:size]
	} else {
		buf = make([]byte, size)
		c = &vaultv1.UploadDocumentRequest_Chunk{}
	}
	copyFrom(data, off, buf)
	m.Reset()
	c.Chunk = buf
	m.Payload = c
	return nil
}

// chunkField reports whether data is exactly one field 2 (chunk) of wire
// type bytes, and where its bytes start and how many there are.
func chunkField(data mem.BufferSlice) (off, size int, ok bool) {
	var head [1 + binary.MaxVarintLen64]byte // the tag of field 2, the length
	n := 0
	for _, b := range data {
		n += copy(head[n:], b.ReadOnlyData())
		if n == len(head) {
			break
		}
	}
	num, typ, k := protowire.ConsumeTag(head[:n])
	if k < 0 || num != 2 || typ != protowire.BytesType {
		return 0, 0, false
	}
	l, j := protowire.ConsumeVarint(head[k:n])
	if j < 0 || l != uint64(data.Len()-k-j) {
		return 0, 0, false
	}
	return k + j, int(l), true
}

// copyFrom copies data from byte off on into dst.
func copyFrom(data mem.BufferSlice, off int, dst []byte) {
	for _, b := range data {
		d := b.ReadOnlyData()
		if off >= len(d) {
			off -= len(d)
			continue
		}
		dst = dst[copy(dst, d[off:]):]
		off = 0
	}
}
