package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/notify/internal/smtptest"
	"github.com/vigil/vigil/services/runtime/benchmem"
)

// BenchmarkDeliver10kProcess measures what issue 4 asks of notify itself, as
// an operator runs it: the real binary in its own process takes 10,000
// notifications over gRPC (32 callers) and delivers them to a local SMTP
// server. It reports the time until the last is delivered and the notify
// process's peak RSS (VmHWM from /proc/<pid>/status), apart from the test
// process that plays the callers and the SMTP server.
func BenchmarkDeliver10kProcess(b *testing.B) {
	const total, callers, workers = 10_000, 32, 8
	dir := b.TempDir()
	bin := buildNotify(b, dir)
	data, _ := structpb.NewStruct(map[string]any{"link": "https://vigil.test/reset-password?token=x"})
	for n := range b.N {
		srv := smtptest.Start(b, smtptest.Options{Quiet: true})
		addr := smtptest.FreeAddr(b)
		cmd := startNotify(b, bin, addr, filepath.Join(dir, fmt.Sprint("data", n)), srv.Addr, workers)
		client := notifyv1.NewNotificationInternalServiceClient(dialNotify(b, addr))
		b.ResetTimer()
		start := time.Now()
		keys := make(chan int)
		var wg sync.WaitGroup
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range keys {
					_, err := client.EnqueueNotification(context.Background(), &notifyv1.EnqueueNotificationRequest{
						IdempotencyKey: fmt.Sprintf("bench-%d-%d", n, i), Template: notifyv1.Template_TEMPLATE_PASSWORD_RESET,
						Data: data, Recipients: []*notifyv1.Recipient{{Email: fmt.Sprintf("u%d@example.com", i)}},
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		for i := range total {
			keys <- i
		}
		close(keys)
		wg.Wait()
		enqueued := time.Since(start)
		if !srv.WaitFor(total, 5*time.Minute) {
			b.Fatalf("delivered %d of %d", srv.Len(), total)
		}
		delivered := time.Since(start)
		b.StopTimer()
		rss, ok := benchmem.PeakRSSMiB(cmd.Process.Pid)
		if !ok {
			b.Skip("no /proc to read notify's peak RSS")
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		b.ReportMetric(enqueued.Seconds(), "s-to-enqueue-10k")
		b.ReportMetric(delivered.Seconds(), "s-to-deliver-10k")
		b.ReportMetric(rss, "notify-VmHWM-MiB")
	}
}
