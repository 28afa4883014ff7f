package notify

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/errs"
)

func TestPageTokenRoundTrip(t *testing.T) {
	c := Cursor{Time: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), ID: DeliveryID("0123456789abcdefghijklmnop", 7)}
	tok := encodePageToken(c, "dead")
	got, err := decodePageToken(tok, "dead")
	if err != nil || !got.Time.Equal(c.Time) || got.ID != c.ID {
		t.Fatalf("decode(encode(%v)) = %v, %v", c, got, err)
	}
	if _, err := decodePageToken(tok, "inbox"); !errors.Is(err, errs.ErrInvalidArgument) {
		t.Fatalf("a token of another query: %v, want INVALID_ARGUMENT", err)
	}
	for _, bad := range []string{"x", "!!!", encodePageToken(Cursor{ID: "../etc"}, "dead")} {
		var de *errs.Error
		if _, err := decodePageToken(bad, "dead"); !errors.As(err, &de) || de.Field != "page_token" {
			t.Errorf("decode(%q) = %v, want INVALID_ARGUMENT page_token", bad, err)
		}
	}
}

// FuzzDecodePageToken: any input decodes to a valid cursor or to
// INVALID_ARGUMENT on page_token, never a panic; a valid cursor re-encodes
// to a token that decodes to the same cursor.
func FuzzDecodePageToken(f *testing.F) {
	f.Add(encodePageToken(Cursor{ID: DeliveryID("0123456789abcdefghijklmnop", 1)}, "inbox"), "inbox")
	f.Add(encodePageToken(Cursor{Time: time.Unix(1, 2), ID: DeliveryID("0123456789abcdefghijklmnop", 2)}, "dead"), "dead")
	f.Add("eyJ2IjoxfQ", "inbox")
	f.Add("", "dead")
	f.Fuzz(func(t *testing.T, tok, q string) {
		c, err := decodePageToken(tok, q)
		if err != nil {
			var de *errs.Error
			if !errors.As(err, &de) || de.Kind != errs.KindInvalidArgument || de.Field != "page_token" {
				t.Fatalf("decode error %v is not INVALID_ARGUMENT page_token", err)
			}
			return
		}
		if tok == "" {
			return
		}
		if !ValidDeliveryID(c.ID) {
			t.Fatalf("decoded an invalid id %q", c.ID)
		}
		again, err := decodePageToken(encodePageToken(c, q), q)
		if err != nil || again.ID != c.ID || !again.Time.Equal(c.Time) {
			t.Fatalf("re-encoding %v gives %v, %v", c, again, err)
		}
	})
}

func TestCheckEmail(t *testing.T) {
	for addr, ok := range map[string]bool{
		"a@example.com":                  true,
		"first.last+tag@sub.example.org": true,
		"root@localhost":                 true,
		"":                               false,
		"no-at-sign":                     false,
		"a@b":                            false,
		"Name <a@example.com>":           false,
		"a@example.com\r\nBcc: x@y.z":    false,
		"a@example.com, b@example.com":   false,
		"a@exam ple.com":                 false,
		"(comment)a@example.com":         false,
	} {
		if err := checkEmail(addr); (err == nil) != ok {
			t.Errorf("checkEmail(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	d := NewDispatcher(nil, nil, nil, nil, zap.NewNop(), DispatcherConfig{BackoffBase: time.Second, BackoffMax: 16 * time.Second})
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 5: 16 * time.Second, 30: 16 * time.Second} {
		seen := map[time.Duration]bool{}
		for range 200 {
			got := d.backoff(attempt)
			if got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, got, want/2, want)
			}
			seen[got] = true
		}
		if len(seen) < 10 {
			t.Errorf("backoff(%d) has no jitter: %d distinct values", attempt, len(seen))
		}
	}
}
