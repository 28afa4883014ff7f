package stack

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil/vigil/services/runtime/pki"
)

func lookup(env []string, key string) []string {
	var vals []string
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			vals = append(vals, v)
		}
	}
	return vals
}

// TestEachProcessGetsItsOwnListeners (issue 12 point 7): a metrics or
// health address set for one process reaches that process only, and one
// set in the environment for all is never inherited (four services on one
// port collide); each gets its own certificate; the operator's
// VIGIL_PUBLIC_URL stands (issue 7 point 10).
func TestEachProcessGetsItsOwnListeners(t *testing.T) {
	t.Setenv("VIGIL_METRICS_ADDR", "127.0.0.1:9999")
	t.Setenv("VIGIL_HEALTH_ADDR", "127.0.0.1:9998")
	t.Setenv("VIGIL_PUBLIC_URL", "https://vigil.example.test")
	s := &Stack{URL: "http://127.0.0.1:8080", TLS: pki.Files{Dir: "/d/tls"}, SecretKeyFile: "/d/secret.key", opts: Options{
		DataDir:      "/d",
		MetricsAddrs: map[string]string{"identity": "127.0.0.1:7201", "vault": "127.0.0.1:7203"},
		HealthAddrs:  map[string]string{"vault": "127.0.0.1:7303"},
	}}
	for _, tc := range []struct{ name, metrics, health string }{
		{"identity", "127.0.0.1:7201", ""},
		{"vault", "127.0.0.1:7203", "127.0.0.1:7303"},
		{"notify", "", ""},
	} {
		env := s.env(tc.name)
		if got := lookup(env, "VIGIL_METRICS_ADDR"); tc.metrics == "" && len(got) != 0 || tc.metrics != "" && !slices.Equal(got, []string{tc.metrics}) {
			t.Errorf("%s: VIGIL_METRICS_ADDR %v, want %q", tc.name, got, tc.metrics)
		}
		if got := lookup(env, "VIGIL_HEALTH_ADDR"); tc.health == "" && len(got) != 0 || tc.health != "" && !slices.Equal(got, []string{tc.health}) {
			t.Errorf("%s: VIGIL_HEALTH_ADDR %v, want %q", tc.name, got, tc.health)
		}
		if got := lookup(env, "VIGIL_TLS_CERT_FILE"); !slices.Equal(got, []string{"/d/tls/" + tc.name + ".pem"}) {
			t.Errorf("%s: VIGIL_TLS_CERT_FILE %v", tc.name, got)
		}
		if got := lookup(env, "VIGIL_PUBLIC_URL"); got[len(got)-1] != "https://vigil.example.test" {
			t.Errorf("%s: VIGIL_PUBLIC_URL %v, want the operator's", tc.name, got)
		}
	}
}

// TestLogsAreBounded (issue 14): a process's log rotates by size and keeps
// a bounded number of old files, so that `make run` under load never fills
// the disk.
func TestLogsAreBounded(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		t.Fatal(err)
	}
	s := &Stack{opts: Options{DataDir: dir, LogMaxMB: 1, LogBackups: 2}}
	w := s.newLog("identity")
	line := []byte(strings.Repeat("x", 1023) + "\n")
	for i := 0; i < 6*1024; i++ { // 6 MiB through a 1 MiB bound
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var total int64
	deadline := time.Now().Add(5 * time.Second) // old backups are removed in the background
	for {
		entries, _ := os.ReadDir(filepath.Join(dir, "logs"))
		total = 0
		for _, e := range entries {
			info, _ := e.Info()
			total += info.Size()
			if info.Mode().Perm() != 0o600 {
				t.Fatalf("%s: mode %v, want 0600", e.Name(), info.Mode())
			}
		}
		if len(entries) <= 3 || time.Now().After(deadline) {
			if len(entries) > 3 {
				t.Fatalf("%d log files, want at most 3 (the file and 2 backups)", len(entries))
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if total > 3<<20 {
		t.Fatalf("%d bytes of logs, want at most 3 MiB", total)
	}
}
