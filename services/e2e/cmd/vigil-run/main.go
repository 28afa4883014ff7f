// Command vigil-run starts the whole suite on loopback (`make run`): every
// service and the gateway, data under $VIGIL_DATA_DIR (default ./data). It
// prints the gateway's address once ready and stops everything on Ctrl-C.
//
// Each process's own listeners are set one by one: VIGIL_<NAME>_ADDR (gRPC,
// read by every process), VIGIL_<NAME>_METRICS_ADDR and
// VIGIL_<NAME>_HEALTH_ADDR (given to that process only as
// VIGIL_METRICS_ADDR and VIGIL_HEALTH_ADDR), NAME one of IDENTITY,
// DIRECTORY, VAULT, NOTIFY, GATEWAY.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
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
	flag.StringVar(&opts.BinDir, "bin", envOr("VIGIL_BIN_DIR", ".bin"), "folder of the vigil-* binaries (VIGIL_BIN_DIR)")
	flag.Parse()
	for _, v := range []string{"VIGIL_METRICS_ADDR", "VIGIL_HEALTH_ADDR"} {
		if os.Getenv(v) != "" {
			name := strings.TrimPrefix(v, "VIGIL_")
			return errors.New(v + " would give every process one address: set VIGIL_IDENTITY_" + name + ", VIGIL_DIRECTORY_" + name + ", … instead")
		}
	}
	opts.MetricsAddrs, opts.HealthAddrs = map[string]string{}, map[string]string{}
	for _, name := range stack.Processes {
		prefix := "VIGIL_" + strings.ToUpper(name)
		if v, ok := os.LookupEnv(prefix + "_METRICS_ADDR"); ok {
			opts.MetricsAddrs[name] = v
		}
		if v, ok := os.LookupEnv(prefix + "_HEALTH_ADDR"); ok {
			opts.HealthAddrs[name] = v
		}
	}
	start := time.Now()
	s, err := stack.Start(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Printf("Vigil is ready at %s (in %s). Data: %s. Logs: %s/logs. Certificates: %s. Ctrl-C stops it.\n",
		s.URL, time.Since(start).Round(time.Millisecond), opts.DataDir, opts.DataDir, s.TLS.Dir)
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
