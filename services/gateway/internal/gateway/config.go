package gateway

import (
	"errors"
	"flag"
	"time"

	"github.com/vigil/vigil/services/runtime/config"
)

// Config is the gateway's configuration.
type Config struct {
	config.Common
	// MaxBodyBytes bounds JSON request bodies (413 past it). Uploads stream
	// and are bounded by the vault instead.
	MaxBodyBytes int64
	// ReadyTimeout bounds each upstream health check of /readyz.
	ReadyTimeout time.Duration
}

// ParseConfig reads flags and VIGIL_* environment variables.
func ParseConfig(args []string) (*Config, error) {
	cfg := &Config{Common: config.Common{Service: "gateway"}}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	cfg.Register(fs)
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", 6<<20, "largest JSON request body accepted ($VIGIL_MAX_BODY_BYTES)")
	fs.DurationVar(&cfg.ReadyTimeout, "ready-timeout", time.Second, "timeout of each upstream health check in /readyz ($VIGIL_READY_TIMEOUT)")
	if err := config.Parse(fs, args); err != nil {
		return nil, err
	}
	if cfg.MaxBodyBytes <= 0 {
		return nil, errors.New("max-body-bytes: must be positive")
	}
	return cfg, cfg.Complete()
}
