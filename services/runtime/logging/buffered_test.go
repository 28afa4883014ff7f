package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// writes records each Write the logger makes.
type writes struct {
	mu    sync.Mutex
	calls []string
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, string(p))
	return len(p), nil
}

func (w *writes) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.calls...)
}

func messages(t *testing.T, calls []string) []string {
	t.Helper()
	var out []string
	for _, c := range calls {
		if !strings.HasSuffix(c, "\n") {
			t.Fatalf("a write ends inside a line: %q", c)
		}
		for _, line := range strings.Split(strings.TrimSuffix(c, "\n"), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("not a whole JSON line: %q", line)
			}
			if m["service"] != "gw" {
				t.Fatalf("line without its service: %q", line)
			}
			out = append(out, m["msg"].(string))
		}
	}
	return out
}

// TestBufferedLogger: info lines wait (one write for many), a warning is
// written at once after the lines before it, Sync writes what waits, the
// timer writes it too, the level applies, and lines are never split.
func TestBufferedLogger(t *testing.T) {
	w := &writes{}
	log, err := newBufferedTo("gw", "info", w, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("hidden")
	log.Info("a")
	log.Info("b")
	if got := w.all(); len(got) != 0 {
		t.Fatalf("info lines written at once: %q", got)
	}
	log.With().Warn("c")
	got := w.all()
	if len(got) != 1 || strings.Join(messages(t, got), " ") != "a b c" {
		t.Fatalf("after a warning: %q", got)
	}
	log.Info("d")
	if err := log.Sync(); err != nil {
		t.Fatal(err)
	}
	if m := messages(t, w.all()); strings.Join(m, " ") != "a b c d" {
		t.Fatalf("after Sync: %q", m)
	}

	// More than the batch: written in whole lines.
	big := strings.Repeat("x", 10<<10)
	for range 20 {
		log.Info(big)
	}
	_ = log.Sync()
	if n := len(messages(t, w.all())); n != 24 {
		t.Fatalf("%d lines, want 24", n)
	}

	// The timer writes what waits.
	w2 := &writes{}
	log2, _ := newBufferedTo("gw", "info", w2, 10*time.Millisecond)
	log2.Info("later")
	deadline := time.Now().Add(10 * time.Second)
	for len(w2.all()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the line waiting was never written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if m := messages(t, w2.all()); len(m) != 1 || m[0] != "later" {
		t.Fatalf("timer wrote %q", m)
	}
	if _, err := newBufferedTo("gw", "loud", &bytes.Buffer{}, time.Second); err == nil {
		t.Fatal("a bad level was accepted")
	}
}
