// Command vault runs Vigil's vault service.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	// Every customer's time zone decides its "today" (R-VAULT-6), also on
	// hosts without a zoneinfo database.
	_ "time/tzdata"

	"github.com/vigil/vigil/services/runtime/logging"
	"github.com/vigil/vigil/services/vault/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil && !errors.Is(err, flag.ErrHelp) { // -h printed the flags: exit 0
		fmt.Fprintln(os.Stderr, "vault:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := app.ParseConfig(os.Args[1:])
	if err != nil {
		return err
	}
	log, err := logging.New("vault", cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	return app.Run(ctx, cfg, log)
}
