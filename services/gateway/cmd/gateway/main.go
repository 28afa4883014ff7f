// Command gateway runs Vigil's HTTP/JSON edge in front of the gRPC services.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vigil/vigil/services/gateway/internal/gateway"
	"github.com/vigil/vigil/services/runtime/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil && !errors.Is(err, flag.ErrHelp) { // -h printed the flags: exit 0
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// logFlushEvery is how long an info line may wait in memory.
const logFlushEvery = 100 * time.Millisecond

func run(ctx context.Context) error {
	cfg, err := gateway.ParseConfig(os.Args[1:])
	if err != nil {
		return err
	}
	// The access log writes a line per request: lines are written in
	// batches (warnings and errors at once), not one write each (issue 14).
	log, err := logging.NewBuffered("gateway", cfg.LogLevel, logFlushEvery)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	return gateway.Run(ctx, cfg, log)
}
