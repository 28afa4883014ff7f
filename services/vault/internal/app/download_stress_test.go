package app_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
)

// distinctPDF is a PDF of n bytes whose every line names doc, so that a
// byte of one document in another's download shows.
func distinctPDF(doc, n int) []byte {
	b := []byte("%PDF-1.4\n")
	for i := 0; len(b) < n-7; i++ {
		b = fmt.Appendf(b, "doc%02d line %09d\n", doc, i)
	}
	return append(b[:n-7], "\n%%EOF\n"...)
}

// TestConcurrentDownloadsStayApart: issue 9 — downloads of different
// documents run at once (whole, ranged, cancelled mid-stream), on one
// server whose chunk buffers are pooled and lent to gRPC: each completed
// download returns exactly its own bytes, whatever the others do.
func TestConcurrentDownloadsStayApart(t *testing.T) {
	e := newEnv(t, withMaxSize(8<<20))
	w := e.world()
	types := []string{"URSSAF_VIGILANCE", "KBIS_EXTRACT", "TAX_COMPLIANCE", "CIVIL_LIABILITY_INSURANCE"}
	var docs []string
	var datas [][]byte
	for i, typ := range types {
		data := distinctPDF(i, 3<<20+1000*i+123)
		d, err := e.upload(w.s1Power, upload{docType: typ}, data)
		if err != nil {
			t.Fatalf("upload %s: %v", typ, err)
		}
		docs, datas = append(docs, d.GetName()), append(datas, data)
	}
	const workers, rounds = 8, 6
	var wg sync.WaitGroup
	errc := make(chan error, workers*rounds)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for range rounds {
				i := r.IntN(len(docs))
				data := datas[i]
				var off, limit int64
				switch r.IntN(3) {
				case 1:
					off = r.Int64N(int64(len(data)))
					limit = r.Int64N(int64(len(data))-off) + 1
				case 2:
					off = r.Int64N(int64(len(data)))
				}
				ctx, cancel := context.WithCancel(w.s1Standard.ctx)
				cancelAfter := -1
				if r.IntN(3) == 0 {
					cancelAfter = r.IntN(3)
				}
				s, err := e.docs.DownloadDocument(ctx, &vaultv1.DownloadDocumentRequest{Name: docs[i], ReadOffset: off, ReadLimit: limit})
				if err != nil {
					cancel()
					errc <- err
					continue
				}
				var got bytes.Buffer
				chunks := 0
				for {
					m, err := s.Recv()
					if err != nil {
						break
					}
					got.Write(m.GetChunk())
					if len(m.GetChunk()) > 0 {
						chunks++
					}
					if chunks == cancelAfter {
						cancel()
					}
				}
				cancel()
				end := int64(len(data))
				if limit > 0 {
					end = off + limit
				}
				want := data[off:end]
				if cancelAfter >= 0 {
					want = want[:min(len(want), got.Len())]
				}
				if !bytes.Equal(got.Bytes(), want) {
					at := 0
					for at < min(got.Len(), len(want)) && got.Bytes()[at] == want[at] {
						at++
					}
					errc <- fmt.Errorf("doc %d [%d,%d) cancel %d: %d bytes, want %d; first difference at %d: %q", i, off, end, cancelAfter,
						got.Len(), len(want), at, got.Bytes()[at:min(got.Len(), at+24)])
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}
