package notify_test

// Benchmarks (the lead wires `make bench`):
//
//	go test -run '^$' -bench . -benchtime 3s ./internal/notify/
//
// BenchmarkEnqueue compares a durable enqueue (validation, rendering check,
// one bbolt transaction through Batch) with bare bbolt writes of the same
// size, all with 32 concurrent callers. BenchmarkDeliver10k delivers 10,000
// e-mails to an in-process go-smtp server and reports the time and memory.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/vigil/vigil/services/notify/internal/boltstore"
	"github.com/vigil/vigil/services/notify/internal/mailer"
	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/notify/internal/smtptest"
	"github.com/vigil/vigil/services/notify/internal/templates"
	"github.com/vigil/vigil/services/runtime/benchmem"
)

const callers = 32

func benchRequest(key string) notify.EnqueueRequest {
	return notify.EnqueueRequest{
		IdempotencyKey: key,
		Template:       notify.TemplateInvitation,
		Recipients:     []notify.Recipient{{User: "users/u1", Email: "u1@example.com", Name: "Ulysse", Language: "fr"}},
		Data:           map[string]any{"link": "https://vigil.test/invitation?token=" + key, "company_name": "Acme SAS", "inviter_name": "Alice Martin"},
		Company:        "companies/c1",
	}
}

// recordBytes is what one enqueue of benchRequest writes (values only).
func recordBytes() int {
	n := notify.Notification{ID: strings.Repeat("0", 26), IdempotencyKey: "k-000000", Template: notify.TemplateInvitation,
		Data: benchRequest("k-000000").Data, Recipients: benchRequest("k").Recipients, CreateTime: time.Now(), Company: "companies/c1"}
	d := notify.Delivery{ID: n.ID + "-000", NotificationID: n.ID, Email: "u1@example.com", Template: n.Template, State: notify.StatePending, NextAttempt: time.Now()}
	e := notify.InboxEntry{ID: d.ID, User: "users/u1", NotificationID: n.ID, CreateTime: time.Now()}
	total := 0
	for _, v := range []any{n, d, e} {
		b, _ := json.Marshal(v)
		total += len(b)
	}
	return total
}

// parallel runs op b.N times over `callers` goroutines.
func parallel(b *testing.B, op func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > b.N {
					return
				}
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkEnqueue(b *testing.B) {
	size := recordBytes()
	b.Logf("one enqueue writes %d bytes of values (notification, delivery, inbox entry) and 5 keys", size)

	b.Run("notify-32-callers", func(b *testing.B) {
		store, err := boltstore.Open(filepath.Join(b.TempDir(), "notify.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer store.Close()
		r, err := templates.Load()
		if err != nil {
			b.Fatal(err)
		}
		svc := notify.NewService(store, r, testBox(b), zap.NewNop(), notify.ServiceOptions{})
		parallel(b, func(i int) error {
			_, _, err := svc.Enqueue(context.Background(), benchRequest("k-"+strconv.Itoa(i)))
			return err
		})
	})

	value := make([]byte, size)
	bare := func(b *testing.B, batch bool) {
		db, err := bolt.Open(filepath.Join(b.TempDir(), "bare.db"), 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		db.MaxBatchDelay = 2 * time.Millisecond
		if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
			b.Fatal(err)
		}
		write := db.Update
		if batch {
			write = db.Batch
		}
		parallel(b, func(i int) error {
			var key [8]byte
			binary.BigEndian.PutUint64(key[:], uint64(i))
			return write(func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put(key[:], value) })
		})
	}
	b.Run("bare-bolt-update-32-callers", func(b *testing.B) { bare(b, false) })
	b.Run("bare-bolt-batch-32-callers", func(b *testing.B) { bare(b, true) })
}

// BenchmarkDeliver10k: 10,000 notifications are enqueued first (not timed),
// then the dispatcher delivers them to a local go-smtp server. It reports the
// delivery time and memory: VmHWM is the peak resident set of the whole test
// process (notify's store, dispatcher and sender, and also the in-process
// SMTP server and the test itself), reset just before delivery starts, so it
// is an upper bound of what notify alone would use; heap-inuse-peak-MB is the
// Go heap in use, sampled every 10 ms.
func BenchmarkDeliver10k(b *testing.B) {
	const total = 10000
	for range b.N {
		b.StopTimer()
		srv := smtptest.Start(b, smtptest.Options{Quiet: true})
		store, err := boltstore.Open(filepath.Join(b.TempDir(), fmt.Sprintf("notify-%d.db", time.Now().UnixNano())))
		if err != nil {
			b.Fatal(err)
		}
		r, _ := templates.Load()
		svc := notify.NewService(store, r, testBox(b), zap.NewNop(), notify.ServiceOptions{})
		var next atomic.Int64
		var wg sync.WaitGroup
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)); i <= total; i = int(next.Add(1)) {
					if _, _, err := svc.Enqueue(context.Background(), benchRequest("d-"+strconv.Itoa(i))); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		sender, err := mailer.NewSMTP(mailer.SMTPConfig{Addr: srv.Addr, From: "Vigil <no-reply@vigil.test>", MaxIdle: 8})
		if err != nil {
			b.Fatal(err)
		}
		disp := notify.NewDispatcher(store, r, testBox(b), sender, zap.NewNop(), notify.DispatcherConfig{Workers: 8})

		runtime.GC()
		benchmem.ResetPeakRSS()
		stopSampling := benchmem.SampleHeap(10 * time.Millisecond)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		start := time.Now()
		b.StartTimer()
		go func() { defer close(done); _ = disp.Run(ctx) }()
		if !srv.WaitFor(total, 120*time.Second) {
			b.Fatalf("delivered %d of %d", srv.Len(), total)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		cancel()
		<-done
		heapPeak := stopSampling()
		b.ReportMetric(elapsed.Seconds(), "s/10k-emails")
		b.ReportMetric(total/elapsed.Seconds(), "emails/s")
		if hwm, ok := benchmem.PeakRSSMiB(0); ok {
			b.ReportMetric(hwm, "VmHWM-MB")
		}
		b.ReportMetric(float64(heapPeak)/(1<<20), "heap-inuse-peak-MB")
		if dups := srv.Len() - total; dups != 0 {
			b.Fatalf("%d duplicates", dups)
		}
		_ = sender.Close()
		_ = store.Close()
		_ = srv.Close()
	}
}
