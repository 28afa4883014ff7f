package gateway

import (
	"errors"
	"flag"
	"time"

	"github.com/vigil/vigil/services/runtime/config"
)

// DefaultMaxBodyBytes is the largest JSON body the gateway accepts. It equals
// the services' gRPC message bound (runtime/server's MaxRecvMsgSize, 4 MiB), so
// that there is one bound: a body the gateway lets through fits in one gRPC
// message, and a body past it answers 413 (issue 7 point 9). A service that
// still refuses a message for its size answers 413 too (see writeStatusError).
const DefaultMaxBodyBytes = 4 << 20

// Config is the gateway's configuration.
type Config struct {
	config.Common
	// MaxBodyBytes bounds JSON request bodies (413 past it). Uploads stream
	// and are bounded by the vault instead.
	MaxBodyBytes int64
	// ReadyTimeout bounds each upstream health check of /readyz.
	ReadyTimeout time.Duration
	// AccessLog writes one line per HTTP request (at info; probes at debug).
	AccessLog bool

	// Slow clients (issue 7 point 5): every connection must send its headers
	// within ReadHeaderTimeout and its whole request within ReadTimeout
	// (UploadTimeout for streamed uploads), may stay idle between requests
	// for IdleTimeout, and at most MaxConnections are served at once (more
	// wait in the kernel's accept queue instead of exhausting descriptors).
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	UploadTimeout     time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	MaxConnections    int
}

// ParseConfig reads flags and VIGIL_* environment variables.
func ParseConfig(args []string) (*Config, error) {
	cfg := &Config{Common: config.Common{Service: "gateway"}}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	cfg.Register(fs)
	if f := fs.Lookup("metrics-addr"); f != nil {
		f.Usage = "address that serves /metrics apart; empty: /metrics is on the public port ($VIGIL_METRICS_ADDR)"
	}
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", DefaultMaxBodyBytes, "largest JSON request body accepted; the services' gRPC message bound ($VIGIL_MAX_BODY_BYTES)")
	fs.DurationVar(&cfg.ReadyTimeout, "ready-timeout", time.Second, "timeout of each upstream health check in /readyz ($VIGIL_READY_TIMEOUT)")
	fs.BoolVar(&cfg.AccessLog, "access-log", true, "log one line per HTTP request ($VIGIL_ACCESS_LOG)")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", 5*time.Second, "time a client has to send a request's headers ($VIGIL_READ_HEADER_TIMEOUT)")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", time.Minute, "time a client has to send a whole request, body included ($VIGIL_READ_TIMEOUT)")
	fs.DurationVar(&cfg.UploadTimeout, "upload-timeout", 15*time.Minute, "time a client has to send a streamed upload ($VIGIL_UPLOAD_TIMEOUT)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", time.Minute, "how long an idle keep-alive connection stays open ($VIGIL_IDLE_TIMEOUT)")
	fs.IntVar(&cfg.MaxHeaderBytes, "max-header-bytes", 64<<10, "largest request header block ($VIGIL_MAX_HEADER_BYTES)")
	fs.IntVar(&cfg.MaxConnections, "max-connections", 10000, "connections served at once; capped below the open-file limit ($VIGIL_MAX_CONNECTIONS)")
	if err := config.Parse(fs, args); err != nil {
		return nil, err
	}
	return cfg, cfg.Complete()
}

// Complete validates the gateway's settings after the common ones.
func (c *Config) Complete() error {
	if err := c.Common.Complete(); err != nil {
		return err
	}
	switch {
	case c.MaxBodyBytes <= 0:
		return errors.New("max-body-bytes: must be positive")
	case c.ReadHeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.UploadTimeout <= 0 || c.IdleTimeout <= 0:
		return errors.New("read-header-timeout, read-timeout, upload-timeout and idle-timeout: must be positive")
	case c.ReadTimeout < c.ReadHeaderTimeout:
		return errors.New("read-timeout: must not be shorter than read-header-timeout")
	case c.MaxHeaderBytes < 4<<10:
		return errors.New("max-header-bytes: must be at least 4096")
	case c.MaxConnections < 1:
		return errors.New("max-connections: must be positive")
	}
	if _, err := newCORS(c.CORSAllowedOrigins); err != nil {
		return err
	}
	return nil
}
