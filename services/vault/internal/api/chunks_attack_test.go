package api

import (
	"bytes"
	"io"
	"runtime"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
)

// blockAfter reads data, then blocks until release is closed, then EOF.
type blockAfter struct {
	r       io.Reader
	release chan struct{}
}

func (b *blockAfter) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		<-b.release
	}
	return n, err
}

// TestReclaimDoesNotTakeAnotherDownloadsBuffer: download A's chunk is
// marshalled (taken) and written by gRPC, which frees it to the pool
// before A's SendMsg has returned (loopy runs in its own goroutine);
// download B's reader gets that very buffer and B lends it. A's
// reclaim(chunk), after its send returns, finds B's lent buffer under
// the same first-byte pointer and the same length (a full 1 MiB chunk),
// and puts it in the pool while B is still sending it: B's Marshal no
// longer finds it lent and copies it from the pool, where another
// download's reader may already be overwriting it (a cross-download leak).
//
// The timings are forced (A's send waits for B's lend; B's send waits
// for A's reclaim); GOMAXPROCS 1 makes sync.Pool hand back the buffer
// A's write freed.
func TestReclaimDoesNotTakeAnotherDownloadsBuffer(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for attempt := 0; attempt < 50; attempt++ {
		if reused, stolen, leaked := reclaimRace(t); reused {
			if stolen {
				t.Errorf("download A's reclaim put download B's lent buffer back in the pool while B was sending it")
			}
			if leaked {
				t.Fatalf("download B sent another download's bytes")
			}
			return
		}
	}
	t.Skip("the pool never handed A's freed buffer to B")
}

func reclaimRace(t *testing.T) (reused, stolen, leaked bool) {
	chunks := NewChunks()
	codec := NewCodec(chunks)
	fill := func(c byte) []byte { return bytes.Repeat([]byte{c}, downloadChunk) }

	aFreed, bLent, aDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var aChunk *byte
	releaseA := make(chan struct{})
	go func() {
		defer close(aDone)
		_ = chunks.stream(&blockAfter{r: bytes.NewReader(fill('A')), release: releaseA}, func(chunk []byte) error {
			out, err := codec.Marshal(&vaultv1.DownloadDocumentResponse{Payload: &vaultv1.DownloadDocumentResponse_Chunk{Chunk: chunk}})
			if err != nil {
				return err
			}
			aChunk = &chunk[0]
			_ = out.Materialize() // loopy writes it out…
			out.Free()            // …and frees it, to the pool
			close(aFreed)
			select { // SendMsg has not returned yet
			case <-bLent:
			case <-time.After(2 * time.Second):
			}
			return nil
		})
	}()
	<-aFreed

	var wire []byte
	_ = chunks.stream(bytes.NewReader(fill('B')), func(chunk []byte) error {
		reused = &chunk[0] == aChunk
		close(bLent)
		if reused {
			// Wait (bounded) for A's reclaim to take B's buffer.
			for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				if _, ok := chunks.lent.Load(&chunk[0]); !ok {
					stolen = true
					break
				}
			}
			if stolen {
				// Other downloads' readers get buffers from the pool.
				for range 4 {
					if c := chunks.pool.Get(downloadChunk); &(*c)[0] == &chunk[0] {
						copy(*c, fill('C'))
						break
					}
				}
			}
		}
		m := &vaultv1.DownloadDocumentResponse{Payload: &vaultv1.DownloadDocumentResponse_Chunk{Chunk: chunk}}
		out, err := codec.Marshal(m)
		if err != nil {
			return err
		}
		wire = out.Materialize()
		out.Free()
		return nil
	})
	close(releaseA)
	<-aDone
	want, _ := proto.Marshal(&vaultv1.DownloadDocumentResponse{Payload: &vaultv1.DownloadDocumentResponse_Chunk{Chunk: fill('B')}})
	leaked = !bytes.Equal(wire, want)
	return reused, stolen, leaked
}
