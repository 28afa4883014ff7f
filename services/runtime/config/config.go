// Package config is the configuration every Vigil process shares: flags with
// VIGIL_* environment fallbacks (SPEC §5), defaults filled in one Complete
// step. A service embeds Common in its own Config and adds its own flags.
package config

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
)

// Default loopback addresses: every internal port is fixed so that `make run`
// needs no configuration, and each can be set on its own.
const (
	DefaultHTTPAddr      = "127.0.0.1:8080"
	DefaultIdentityAddr  = "127.0.0.1:7101"
	DefaultDirectoryAddr = "127.0.0.1:7102"
	DefaultVaultAddr     = "127.0.0.1:7103"
	DefaultNotifyAddr    = "127.0.0.1:7104"
)

// DefaultMetricsAddrs are the per-service Prometheus listeners.
var DefaultMetricsAddrs = map[string]string{
	"identity":  "127.0.0.1:7201",
	"directory": "127.0.0.1:7202",
	"vault":     "127.0.0.1:7203",
	"notify":    "127.0.0.1:7204",
}

// DefaultGCPercent is a process's garbage collector target (GOGC, unless
// GOGC is set in the environment); Go's 100 for the others. The gateway and
// the vault keep a few MiB alive and allocate per request in proportion to
// the answer (pages of a hundred records): at 100 they collect every few
// MiB, for a fifth of their CPU under load; at 400 a quarter as often, for
// tens of MiB more RSS (issues 10 and 14, make bench). Identity (password
// hashes of 19 MiB each), directory (imports) and notify (the weekly run)
// keep Go's default: their RSS targets are the tighter ones.
var DefaultGCPercent = map[string]int{
	"gateway": 400,
	"vault":   400,
}

// Common is the configuration shared by every process.
type Common struct {
	// Service is the process's own name (identity, directory, …); not a flag.
	Service string

	DataDir   string
	LogLevel  string
	PublicURL string
	HTTPAddr  string

	// SMTP delivery (used by notify; every process accepts them so that one
	// environment configures the whole suite).
	SMTPAddr     string
	SMTPFrom     string
	SMTPUsername string
	SMTPPassword string

	IdentityAddr  string
	DirectoryAddr string
	VaultAddr     string
	NotifyAddr    string

	// MetricsAddr serves /metrics for a gRPC service ("" disables it).
	MetricsAddr string
	// HealthAddr serves only grpc.health.v1, in plaintext, for probes that
	// carry no client certificate (kubelet); "" disables it.
	HealthAddr string
	// DebugAddr serves Go's profiler (/debug/pprof/) on a loopback address,
	// for `make bench`; "" disables it.
	DebugAddr string

	// TLS for gRPC: a server presents CertFile/KeyFile; clients trust CAFile.
	// Without them gRPC is plaintext, which Complete allows only on loopback.
	TLSCertFile string
	TLSKeyFile  string
	TLSCAFile   string

	// ShutdownTimeout bounds GracefulStop before Stop is forced.
	ShutdownTimeout time.Duration
	// SlowCallThreshold: a call that takes longer is logged at info;
	// quicker successful calls at debug (issue 14).
	SlowCallThreshold time.Duration

	// SecretKeyFile is the key that encrypts secrets at rest (runtime/secrets).
	SecretKeyFile string
	// PlatformAdmins are the logins (e-mails) that are platform
	// administrators (R-ID-11); identity puts it in their tokens.
	PlatformAdmins List
	// CORSAllowedOrigins are the browser origins the gateway allows (none by default).
	CORSAllowedOrigins List
	// WebhookAllowPrivate lets webhooks reach loopback and private addresses
	// (tests, on-premises ERPs); WebhookCAFile adds a CA they may present.
	WebhookAllowPrivate bool
	WebhookCAFile       string
	// OTLPEndpoint, when set, exports traces over OTLP (host:port).
	OTLPEndpoint string
	// GCPercent is the garbage collector's GOGC unless the environment sets
	// GOGC (ApplyGC).
	GCPercent int
}

// List is a comma-separated flag value.
type List []string

// String implements flag.Value.
func (l *List) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value: a comma-separated list, blanks dropped; it
// replaces any earlier value.
func (l *List) Set(v string) error {
	*l = nil
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
	}
	return nil
}

// Register adds the common flags to fs; Parse fills them from VIGIL_*
// environment variables too (flag data-dir ↔ VIGIL_DATA_DIR).
func (c *Common) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", "./data", "folder for this process's data files")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.PublicURL, "public-url", "http://127.0.0.1:8080", "base URL of links in e-mails")
	fs.StringVar(&c.HTTPAddr, "http-addr", DefaultHTTPAddr, "gateway HTTP listen address")
	fs.StringVar(&c.SMTPAddr, "smtp-addr", "", "SMTP server host:port (empty: write .eml files under the data folder)")
	fs.StringVar(&c.SMTPFrom, "smtp-from", "Vigil <no-reply@vigil.localhost>", "From address of e-mails")
	fs.StringVar(&c.SMTPUsername, "smtp-username", "", "SMTP AUTH user name")
	fs.StringVar(&c.SMTPPassword, "smtp-password", "", "SMTP AUTH password")
	fs.StringVar(&c.IdentityAddr, "identity-addr", DefaultIdentityAddr, "identity gRPC address")
	fs.StringVar(&c.DirectoryAddr, "directory-addr", DefaultDirectoryAddr, "directory gRPC address")
	fs.StringVar(&c.VaultAddr, "vault-addr", DefaultVaultAddr, "vault gRPC address")
	fs.StringVar(&c.NotifyAddr, "notify-addr", DefaultNotifyAddr, "notify gRPC address")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", DefaultMetricsAddrs[c.Service], "Prometheus /metrics listen address (empty: off)")
	fs.StringVar(&c.DebugAddr, "debug-addr", "", "loopback listen address serving Go's profiler at /debug/pprof/ (empty: off)")
	fs.StringVar(&c.HealthAddr, "health-addr", "", "plaintext listen address serving only the gRPC health service, for probes without a client certificate (empty: off)")
	fs.StringVar(&c.TLSCertFile, "tls-cert-file", "", "gRPC server certificate (PEM)")
	fs.StringVar(&c.TLSKeyFile, "tls-key-file", "", "gRPC server private key (PEM)")
	fs.StringVar(&c.TLSCAFile, "tls-ca-file", "", "CA bundle that gRPC clients trust (PEM)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "graceful shutdown deadline")
	fs.DurationVar(&c.SlowCallThreshold, "slow-call-threshold", 500*time.Millisecond, "calls slower than this are logged at info; other successful calls at debug (0: every call at info)")
	fs.StringVar(&c.SecretKeyFile, "secret-key-file", "", "key that encrypts secrets at rest: 32 random bytes, hex (openssl rand -hex 32)")
	fs.Var(&c.PlatformAdmins, "platform-admins", "comma-separated e-mails of the platform administrators")
	fs.Var(&c.CORSAllowedOrigins, "cors-allowed-origins", "comma-separated browser origins the gateway allows (none by default)")
	fs.BoolVar(&c.WebhookAllowPrivate, "webhook-allow-private", false, "let webhooks reach loopback, private and link-local addresses")
	fs.StringVar(&c.WebhookCAFile, "webhook-ca-file", "", "extra CA (PEM) that webhook endpoints may present")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", "", "OTLP/gRPC endpoint (host:port) to export traces to; empty: off")
	gc := DefaultGCPercent[c.Service]
	if gc == 0 {
		gc = 100
	}
	fs.IntVar(&c.GCPercent, "gc-percent", gc, "garbage collector target (GOGC) unless GOGC is set")
}

// Complete validates the values and fills what derives from others.
func (c *Common) Complete() error {
	if c.DataDir == "" {
		return errors.New("data-dir: must not be empty")
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("data-dir: %w", err)
	}
	c.DataDir = abs
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("tls-cert-file and tls-key-file go together")
	}
	if c.DebugAddr != "" && !IsLoopback(c.DebugAddr) {
		return errors.New("debug-addr: must be a loopback address (the profiler shows the process's memory)")
	}
	if c.GCPercent != 0 && c.GCPercent < 10 {
		return errors.New("gc-percent: must be at least 10 (0: Go's default)")
	}
	return nil
}

// ApplyGC sets the garbage collector's target to GCPercent, unless GOGC is
// set in the environment (it wins); it reports the target it set.
func (c *Common) ApplyGC() (percent int, applied bool) {
	if _, set := os.LookupEnv("GOGC"); set || c.GCPercent == 0 {
		return 0, false
	}
	debug.SetGCPercent(c.GCPercent)
	return c.GCPercent, true
}

// ServiceAddr is the gRPC address of the named service.
func (c *Common) ServiceAddr(name string) string {
	switch name {
	case "identity":
		return c.IdentityAddr
	case "directory":
		return c.DirectoryAddr
	case "vault":
		return c.VaultAddr
	case "notify":
		return c.NotifyAddr
	}
	return ""
}

// ServiceDataDir is this process's own folder under the data folder: no two
// services ever share a database file.
func (c *Common) ServiceDataDir() string { return filepath.Join(c.DataDir, c.Service) }

// IsLoopback reports whether addr (host:port) names a loopback host.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// EnvName is the environment variable that backs a flag: data-dir → VIGIL_DATA_DIR.
func EnvName(flagName string) string {
	return "VIGIL_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses command-line args into fs, then fills every flag not given on
// the command line from its VIGIL_* environment variable. Flags win over the
// environment; a malformed environment value is an error, never ignored.
// `-h` prints every flag with its variable (PrintUsage).
func Parse(fs *flag.FlagSet, args []string) error {
	fs.Usage = func() { PrintUsage(fs) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", EnvName(f.Name), err))
			}
		}
	})
	return errors.Join(errs...)
}

// PrintUsage writes every flag of fs with the environment variable behind
// it, its value type and default:
//
//	--data-dir string (VIGIL_DATA_DIR)
//	    folder for this process's data files (default "./data")
func PrintUsage(fs *flag.FlagSet) {
	out := fs.Output()
	fmt.Fprintf(out, "Usage of %s (each flag also read from its VIGIL_* variable; flags win):\n", fs.Name())
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if kind != "" {
			line += " " + kind
		}
		line += " (" + EnvName(f.Name) + ")\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			if kind == "string" {
				line += fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				line += " (default " + f.DefValue + ")"
			}
		}
		fmt.Fprintln(out, line)
	})
}

// LoadCAPool reads a PEM bundle of trusted certificates.
func LoadCAPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls-ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("tls-ca-file: no certificate found")
	}
	return pool, nil
}
