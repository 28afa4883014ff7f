package config

import (
	"errors"
	"flag"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, args ...string) (*Common, error) {
	t.Helper()
	c := &Common{Service: "vault"}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.Register(fs)
	if err := Parse(fs, args); err != nil {
		return nil, err
	}
	return c, c.Complete()
}

func TestEnvironmentFillsFlagsAndFlagsWin(t *testing.T) {
	t.Setenv("VIGIL_DATA_DIR", "/tmp/from-env")
	t.Setenv("VIGIL_HTTP_ADDR", "127.0.0.1:9999")
	t.Setenv("VIGIL_SHUTDOWN_TIMEOUT", "3s")
	c, err := parse(t, "--http-addr", "127.0.0.1:1234")
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/tmp/from-env" || c.HTTPAddr != "127.0.0.1:1234" || c.ShutdownTimeout != 3*time.Second {
		t.Fatalf("got %+v", c)
	}
	if c.MetricsAddr != DefaultMetricsAddrs["vault"] || c.VaultAddr != DefaultVaultAddr {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if c.ServiceDataDir() != "/tmp/from-env/vault" {
		t.Fatalf("service data dir %q", c.ServiceDataDir())
	}
}

func TestMalformedEnvironmentIsAnError(t *testing.T) {
	t.Setenv("VIGIL_SHUTDOWN_TIMEOUT", "soon")
	if _, err := parse(t); err == nil {
		t.Fatal("a malformed VIGIL_SHUTDOWN_TIMEOUT must be refused, not ignored")
	}
}

func TestTLSFilesGoTogether(t *testing.T) {
	if _, err := parse(t, "--tls-cert-file", "c.pem"); err == nil {
		t.Fatal("a certificate without its key must be refused")
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:80": true, "localhost:1": true, "[::1]:5": true, "127.9.9.9:1": true,
		"0.0.0.0:80": false, "10.0.0.1:1": false, "example.com:443": false,
	} {
		if IsLoopback(addr) != want {
			t.Errorf("IsLoopback(%q) = %v", addr, !want)
		}
	}
}

func TestLists(t *testing.T) {
	t.Setenv("VIGIL_PLATFORM_ADMINS", " ops@vigil.test, ,root@vigil.test ")
	c, err := parse(t, "--cors-allowed-origins", "https://app.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.PlatformAdmins) != 2 || c.PlatformAdmins[1] != "root@vigil.test" || len(c.CORSAllowedOrigins) != 1 {
		t.Fatalf("lists: %q %q", c.PlatformAdmins, c.CORSAllowedOrigins)
	}
}

// TestHelpNamesEachVariable (issue 12 point 10): -h lists every flag with
// the environment variable behind it.
func TestHelpNamesEachVariable(t *testing.T) {
	c := &Common{Service: "vault"}
	fs := flag.NewFlagSet("vault", flag.ContinueOnError)
	c.Register(fs)
	var out strings.Builder
	fs.SetOutput(&out)
	if err := Parse(fs, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v, want flag.ErrHelp", err)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out.String(), "--"+f.Name+" ") || !strings.Contains(out.String(), "("+EnvName(f.Name)+")") {
			t.Errorf("-h does not show --%s with %s", f.Name, EnvName(f.Name))
		}
	})
	for _, want := range []string{`--data-dir string (VIGIL_DATA_DIR)`, `(default "./data")`, `--health-addr string (VIGIL_HEALTH_ADDR)`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h lacks %q:\n%s", want, out.String())
		}
	}
}

// TestGCPercent: each process's default target (DefaultGCPercent, Go's 100
// otherwise), VIGIL_GC_PERCENT and the flag set it, a target under 10 is
// refused naming the flag, and ApplyGC leaves an environment's GOGC alone.
func TestGCPercent(t *testing.T) {
	for service, want := range map[string]int{"vault": 400, "gateway": 400, "identity": 100, "directory": 100, "notify": 100} {
		c := &Common{Service: service}
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		c.Register(fs)
		if err := Parse(fs, nil); err != nil || c.GCPercent != want {
			t.Fatalf("%s: gc-percent %d %v, want %d", service, c.GCPercent, err, want)
		}
	}
	t.Setenv("VIGIL_GC_PERCENT", "250")
	if c, err := parse(t); err != nil || c.GCPercent != 250 {
		t.Fatalf("from the environment: %+v %v", c, err)
	}
	if _, err := parse(t, "--gc-percent", "5"); err == nil || !strings.Contains(err.Error(), "gc-percent") {
		t.Fatalf("gc-percent 5: %v", err)
	}

	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	if p, ok := (&Common{GCPercent: 300}).ApplyGC(); !ok || p != 300 || debug.SetGCPercent(100) != 300 {
		t.Fatal("ApplyGC did not set 300")
	}
	t.Setenv("GOGC", "100")
	if _, ok := (&Common{GCPercent: 300}).ApplyGC(); ok || debug.SetGCPercent(100) != 100 {
		t.Fatal("the environment's GOGC must win")
	}
}
