// Command vigil-run starts the whole suite on loopback (`make run`): every
// service and the gateway, data under $VIGIL_DATA_DIR (default ./data). It
// prints the gateway's address once ready and stops everything on Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vigil/vigil/services/e2e/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "vigil-run:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	opts := stack.Options{DataDir: envOr("VIGIL_DATA_DIR", "data"), HTTPAddr: envOr("VIGIL_HTTP_ADDR", "127.0.0.1:8080")}
	flag.StringVar(&opts.BinDir, "bin", envOr("VIGIL_BIN_DIR", ".bin"), "folder of the vigil-* binaries")
	flag.Parse()
	start := time.Now()
	s, err := stack.Start(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Printf("Vigil is ready at %s (in %s). Data: %s. Logs: %s/logs. Ctrl-C stops it.\n",
		s.URL, time.Since(start).Round(time.Millisecond), opts.DataDir, opts.DataDir)
	<-ctx.Done()
	fmt.Println("stopping…")
	return s.Close()
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
