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

func run(ctx context.Context) error {
	cfg, err := gateway.ParseConfig(os.Args[1:])
	if err != nil {
		return err
	}
	log, err := logging.New("gateway", cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	return gateway.Run(ctx, cfg, log)
}
