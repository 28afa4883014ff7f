package password

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/vigil/vigil/services/runtime/errs"
)

// cheap keeps unit tests fast; OWASP itself is exercised by the service tests.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse battery", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("format: %s", h)
	}
	if ok, err := Verify("correct horse battery", h); !ok || err != nil {
		t.Fatalf("verify: %v %v", ok, err)
	}
	if ok, _ := Verify("wrong horse battery", h); ok {
		t.Fatal("wrong password accepted")
	}
}

func TestOWASPParams(t *testing.T) {
	if OWASP.Memory != 19456 || OWASP.Time != 2 || OWASP.Threads != 1 {
		t.Fatalf("parameters drifted from OWASP: %+v", OWASP)
	}
}

func TestPolicy(t *testing.T) {
	p := NewPolicy()
	if p.Size() < 900 {
		t.Fatalf("only %d common passwords", p.Size())
	}
	for _, common := range []string{"password1234", "Qwertyuiop123", "iloveyou1234", "123456789012", "1q2w3e4r5t6y"} {
		if err := p.Check("password", common); err == nil {
			t.Errorf("%q accepted", common)
		}
	}
	if err := p.Check("password", "short"); !errors.Is(err, errs.ErrInvalidArgument) {
		t.Errorf("short: %v", err)
	}
	if err := p.Check("password", strings.Repeat("é", 12)); err != nil {
		t.Errorf("12 runes refused: %v", err)
	}
	if err := p.Check("password", strings.Repeat("x", 129)); err == nil {
		t.Error("129 chars accepted")
	}
	if err := p.Check("password", "violet-tram-oscillates-7"); err != nil {
		t.Errorf("good password refused: %v", err)
	}
}

func TestPoolRefusesBeyondCapacity(t *testing.T) {
	p := NewPool(1, 1)
	hold := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = p.Do(context.Background(), func() { close(started); <-hold }) }()
	<-started
	queued := make(chan error, 1)
	go func() { defer wg.Done(); queued <- p.Do(context.Background(), func() {}) }()
	// Wait for the second caller to occupy the queue.
	for len(p.admit) < 2 {
		runtime.Gosched()
	}
	if err := p.Do(context.Background(), func() {}); !errors.Is(err, errs.ErrResourceExhausted) {
		t.Fatalf("third caller: %v", err)
	}
	// What vigil_identity_password_hash_queue and …_refused_total report.
	if p.Waiting() != 1 || p.Refused() != 1 {
		t.Fatalf("waiting %d, refused %d; want 1 and 1", p.Waiting(), p.Refused())
	}
	close(hold)
	wg.Wait()
	if err := <-queued; err != nil {
		t.Fatalf("queued caller: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	h, _ := Hash("x", cheap)
	f.Add(h)
	f.Add("$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := Decode(s)
		if err == nil && (p.Memory > maxMemory || len(salt) == 0 || len(key) == 0) {
			t.Fatalf("accepted out of bounds: %+v", p)
		}
	})
}
