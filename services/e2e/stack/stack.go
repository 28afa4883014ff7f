// Package stack starts the whole Vigil suite as real processes on loopback:
// the four services and the gateway, each with its data under one folder. It
// backs both `make run` (cmd/vigil-run) and the end-to-end tests, so that the
// tests exercise exactly what a newcomer runs.
//
// On first start it makes, in the data folder, what a safe default needs
// (issue 7 points 7 and 8), and reuses them later:
//
//	tls/ca.pem, tls/ca-key.pem          the suite's own CA (ECDSA P-256)
//	tls/<name>.pem, tls/<name>-key.pem  one certificate per process, its name as DNS SAN
//	secret.key                          VIGIL_SECRET_KEY_FILE, unless the environment sets one
//
// every file 0600. Each process gets its certificate (mutual TLS among the
// services, with the caller table of runtime/server), the CA and the key.
package stack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/vigil/vigil/services/runtime/pki"
	"github.com/vigil/vigil/services/runtime/secrets"
)

// Services are the gRPC services, in start order; the gateway starts last.
var Services = []string{"identity", "directory", "vault", "notify"}

// Options configure a stack.
type Options struct {
	// BinDir holds vigil-<name> binaries.
	BinDir string
	// DataDir is VIGIL_DATA_DIR; logs go to DataDir/logs/<name>.log.
	DataDir string
	// HTTPAddr is the gateway's address; Addrs the services' gRPC addresses
	// and MetricsAddrs their /metrics addresses, each set on its own (a
	// process's VIGIL_METRICS_ADDR). Empty maps mean defaults (the
	// binaries' fixed ports); FreePorts picks unused ones. HealthAddrs are
	// the plaintext health ports (VIGIL_HEALTH_ADDR), off when absent.
	HTTPAddr     string
	Addrs        map[string]string
	MetricsAddrs map[string]string
	HealthAddrs  map[string]string
	// PublicURL is VIGIL_PUBLIC_URL, the base of links in e-mails. Empty:
	// the environment's VIGIL_PUBLIC_URL, else the gateway's address.
	PublicURL string
	// Env is added to every process's environment (VIGIL_SMTP_ADDR, …);
	// ProcessEnv to one process's (after Env).
	Env        []string
	ProcessEnv map[string][]string
	// ReadyTimeout bounds the wait for /readyz.
	ReadyTimeout time.Duration
	// LogMaxMB bounds one log file (default 50 MiB): past it the file is
	// rotated, and LogBackups (default 3) rotated files are kept, so that a
	// process never holds more than (1+LogBackups)×LogMaxMB of logs.
	LogMaxMB   int
	LogBackups int
}

// FreePorts fills the addresses with unused loopback ports, so that several
// stacks (tests, a running `make run`) never collide.
func (o *Options) FreePorts() error {
	o.Addrs, o.MetricsAddrs = map[string]string{}, map[string]string{}
	for _, s := range Services {
		a, err := freeAddr()
		if err != nil {
			return err
		}
		m, err := freeAddr()
		if err != nil {
			return err
		}
		o.Addrs[s], o.MetricsAddrs[s] = a, m
	}
	a, err := freeAddr()
	o.HTTPAddr = a
	return err
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Stack is a running suite.
type Stack struct {
	opts Options
	URL  string
	// TLS names the CA and certificates in DataDir/tls.
	TLS pki.Files
	// SecretKeyFile is the VIGIL_SECRET_KEY_FILE every service gets.
	SecretKeyFile string
	mu            sync.Mutex
	procs         map[string]*process
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start launches every process and waits until the gateway's /readyz says 200.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if opts.HTTPAddr == "" {
		opts.HTTPAddr = "127.0.0.1:8080"
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	if err := os.MkdirAll(filepath.Join(opts.DataDir, "logs"), 0o700); err != nil {
		return nil, err
	}
	s := &Stack{opts: opts, URL: "http://" + opts.HTTPAddr, procs: map[string]*process{}}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	for _, name := range Processes {
		if err := s.StartProcess(name); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.WaitReady(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Processes are every process of the suite, the gateway last.
var Processes = append(append([]string{}, Services...), "gateway")

// prepare makes (or reuses) the CA, one certificate per process and the
// secret key in the data folder.
func (s *Stack) prepare() error {
	files, err := pki.Ensure(filepath.Join(s.opts.DataDir, "tls"), Processes...)
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	s.TLS = files
	s.SecretKeyFile = s.lookupEnv("VIGIL_SECRET_KEY_FILE")
	if s.SecretKeyFile == "" {
		s.SecretKeyFile = filepath.Join(s.opts.DataDir, "secret.key")
		if err := secrets.Generate(s.SecretKeyFile); err != nil {
			return fmt.Errorf("secret key: %w", err)
		}
	}
	return nil
}

// lookupEnv is a variable of Options.Env, else of the environment.
func (s *Stack) lookupEnv(key string) string {
	for i := len(s.opts.Env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(s.opts.Env[i], "="); ok && k == key {
			return v
		}
	}
	return os.Getenv(key)
}

// perProcess are variables that name one process's own listener: never
// inherited by all (four services on one metrics address collide).
var perProcess = []string{"VIGIL_METRICS_ADDR", "VIGIL_HEALTH_ADDR", "VIGIL_TLS_CERT_FILE", "VIGIL_TLS_KEY_FILE", "VIGIL_TLS_CA_FILE"}

// env is the environment of one process: the caller's (without the
// per-process variables), the addresses, its certificate, and Options.Env.
func (s *Stack) env(name string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(perProcess, k) {
			env = append(env, kv)
		}
	}
	publicURL := s.opts.PublicURL
	if publicURL == "" {
		publicURL = s.lookupEnv("VIGIL_PUBLIC_URL")
	}
	if publicURL == "" {
		publicURL = s.URL
	}
	env = append(env, "VIGIL_DATA_DIR="+s.opts.DataDir, "VIGIL_HTTP_ADDR="+s.opts.HTTPAddr,
		"VIGIL_PUBLIC_URL="+publicURL)
	for svc, addr := range s.opts.Addrs {
		env = append(env, fmt.Sprintf("VIGIL_%s_ADDR=%s", upper(svc), addr))
	}
	env = append(env, s.TLS.Env(name)...)
	if name != "gateway" {
		env = append(env, "VIGIL_SECRET_KEY_FILE="+s.SecretKeyFile)
	}
	if m, ok := s.opts.MetricsAddrs[name]; ok {
		env = append(env, "VIGIL_METRICS_ADDR="+m)
	}
	if h, ok := s.opts.HealthAddrs[name]; ok {
		env = append(env, "VIGIL_HEALTH_ADDR="+h)
	}
	env = append(env, s.opts.Env...)
	return append(env, s.opts.ProcessEnv[name]...)
}

// ClientTLS is a client configuration with the certificate of process name
// (its service identity), for tests and tools dialing a service directly.
func (s *Stack) ClientTLS(name string) (*tls.Config, error) { return s.TLS.ClientTLS(name) }

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// LogFile is where a process's output goes (rotated files beside it).
func (s *Stack) LogFile(name string) string {
	return filepath.Join(s.opts.DataDir, "logs", name+".log")
}

// newLog opens a process's log: appended to, rotated by size, bounded in
// number (lumberjack). The process writes to a pipe that the launcher
// copies into it.
func (s *Stack) newLog(name string) *lumberjack.Logger {
	maxMB, backups := s.opts.LogMaxMB, s.opts.LogBackups
	if maxMB <= 0 {
		maxMB = 50
	}
	if backups <= 0 {
		backups = 3
	}
	return &lumberjack.Logger{Filename: s.LogFile(name), MaxSize: maxMB, MaxBackups: backups}
}

// StartProcess starts (or restarts) one process by name.
func (s *Stack) StartProcess(name string) error {
	logf := s.newLog(name)
	cmd := exec.Command(filepath.Join(s.opts.BinDir, "vigil-"+name))
	cmd.Env = s.env(name)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	s.mu.Lock()
	s.procs[name] = p
	s.mu.Unlock()
	return nil
}

// WaitReady polls /readyz until 200, a process dies, or the timeout.
func (s *Stack) WaitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.ReadyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		s.mu.Lock()
		for name, p := range s.procs {
			select {
			case <-p.done:
				s.mu.Unlock()
				log := filepath.Join(s.opts.DataDir, "logs", name+".log")
				return fmt.Errorf("%s exited during start-up (%v); the end of %s:\n%s", name, p.err, log, tail(log, 15))
			default:
			}
		}
		s.mu.Unlock()
		if resp, err := client.Get(s.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("suite not ready in time; see " + filepath.Join(s.opts.DataDir, "logs"))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// HTTPAddr is the gateway's address.
func (s *Stack) HTTPAddr() string { return s.opts.HTTPAddr }

// Addr is the gRPC address of a service.
func (s *Stack) Addr(name string) string { return s.opts.Addrs[name] }

// MetricsAddr is the /metrics address of a service.
func (s *Stack) MetricsAddr(name string) string { return s.opts.MetricsAddrs[name] }

// Stop sends SIGTERM to one process and waits for it to exit (SIGKILL after 15s).
func (s *Stack) Stop(name string) error {
	s.mu.Lock()
	p, ok := s.procs[name]
	delete(s.procs, name)
	s.mu.Unlock()
	if !ok {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 15s", name)
	}
	var exit *exec.ExitError
	if p.err != nil && !errors.As(p.err, &exit) {
		return p.err
	}
	if exit != nil && exit.ExitCode() != 0 {
		return fmt.Errorf("%s exited with %v", name, p.err)
	}
	return nil
}

// Pid is the process id of a running process (0 when not running), e.g.
// for a benchmark to read its peak RSS.
func (s *Stack) Pid(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.procs[name]; ok {
		return p.cmd.Process.Pid
	}
	return 0
}

// Kill ends one process at once with SIGKILL, as a crash would.
func (s *Stack) Kill(name string) {
	s.mu.Lock()
	p, ok := s.procs[name]
	delete(s.procs, name)
	s.mu.Unlock()
	if ok {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Close stops the gateway, then the services in reverse start order.
func (s *Stack) Close() error {
	var errs []error
	names := append([]string{"gateway"}, reverse(Services)...)
	for _, n := range names {
		if err := s.Stop(n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func reverse(in []string) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[len(in)-1-i] = v
	}
	return out
}

// tail returns the last n lines of a log file, so that a process that dies
// at start-up says why where the failure is reported (CI keeps no files).
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
