// Package stack starts the whole Vigil suite as real processes on loopback:
// the four services and the gateway, each with its data under one folder. It
// backs both `make run` (cmd/vigil-run) and the end-to-end tests, so that the
// tests exercise exactly what a newcomer runs.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
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
	// and MetricsAddrs their /metrics addresses. Empty maps mean defaults
	// (the binaries' fixed ports); FreePorts picks unused ones.
	HTTPAddr     string
	Addrs        map[string]string
	MetricsAddrs map[string]string
	// Env is added to every process's environment (VIGIL_SMTP_ADDR, …).
	Env []string
	// ReadyTimeout bounds the wait for /readyz.
	ReadyTimeout time.Duration
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
	opts  Options
	URL   string
	mu    sync.Mutex
	procs map[string]*process
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
	if err := opts.secretKey(); err != nil {
		return nil, err
	}
	s := &Stack{opts: opts, URL: "http://" + opts.HTTPAddr, procs: map[string]*process{}}
	for _, name := range append(append([]string{}, Services...), "gateway") {
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

// secretKey makes sure the services that seal secrets at rest have a key
// (VIGIL_SECRET_KEY_FILE): the operator's, or one made on first start in the
// data folder (32 random bytes, hex, mode 0600) and kept for the next.
func (o *Options) secretKey() error {
	const name = "VIGIL_SECRET_KEY_FILE="
	if os.Getenv("VIGIL_SECRET_KEY_FILE") != "" {
		return nil
	}
	for _, e := range o.Env {
		if strings.HasPrefix(e, name) {
			return nil
		}
	}
	path := filepath.Join(o.DataDir, "secret.key")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			return fmt.Errorf("secret key: %w", err)
		}
	} else if err != nil {
		return err
	}
	o.Env = append(o.Env, name+path)
	return nil
}

// env is the environment of every process: the caller's, the addresses, and Options.Env.
func (s *Stack) env() []string {
	env := append(os.Environ(), "VIGIL_DATA_DIR="+s.opts.DataDir, "VIGIL_HTTP_ADDR="+s.opts.HTTPAddr,
		"VIGIL_PUBLIC_URL="+s.URL)
	for name, addr := range s.opts.Addrs {
		env = append(env, fmt.Sprintf("VIGIL_%s_ADDR=%s", upper(name), addr))
	}
	return append(env, s.opts.Env...)
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// StartProcess starts (or restarts) one process by name.
func (s *Stack) StartProcess(name string) error {
	logf, err := os.OpenFile(filepath.Join(s.opts.DataDir, "logs", name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(s.opts.BinDir, "vigil-"+name))
	cmd.Env = s.env()
	if m, ok := s.opts.MetricsAddrs[name]; ok {
		cmd.Env = append(cmd.Env, "VIGIL_METRICS_ADDR="+m)
	}
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
				return fmt.Errorf("%s exited during start-up (%v); see %s", name, p.err, filepath.Join(s.opts.DataDir, "logs", name+".log"))
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
