// Command identity runs Vigil's identity service.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/vigil/vigil/services/identity/internal/app"
	"github.com/vigil/vigil/services/runtime/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil && !errors.Is(err, flag.ErrHelp) { // -h printed the flags: exit 0
		fmt.Fprintln(os.Stderr, "identity:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := app.ParseConfig(os.Args[1:])
	if err != nil {
		return err
	}
	log, err := logging.New("identity", cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	return app.Run(ctx, cfg, log)
}
