package webhooks_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil/vigil/services/notify/internal/webhooks"
)

// The vector was computed outside Go, as the README tells receivers to:
//
//	printf '%s' '1700000000.{"id":"vault-1"}' | openssl dgst -sha256 -hmac 'whsec_test'
const (
	vectorSecret = "whsec_test"
	vectorBody   = `{"id":"vault-1"}`
	vectorSig    = "f3634054db73769cee0009e45924646efd4e71bbcff5808b628cf09805ae7e08"
)

var vectorTime = time.Unix(1700000000, 0)

func TestSignKnownVector(t *testing.T) {
	if got := webhooks.Sign(vectorSecret, vectorTime, []byte(vectorBody)); got != vectorSig {
		t.Fatalf("Sign = %s, want %s", got, vectorSig)
	}
	h := webhooks.SignatureHeader(vectorTime, []byte(vectorBody), vectorSecret)
	if h != "t=1700000000,v1="+vectorSig {
		t.Fatalf("header %q", h)
	}
}

func TestSignatureHeaderDuringRotation(t *testing.T) {
	h := webhooks.SignatureHeader(vectorTime, []byte(vectorBody), "whsec_new", vectorSecret)
	if strings.Count(h, "v1=") != 2 || !strings.HasSuffix(h, ",v1="+vectorSig) {
		t.Fatalf("header %q: want two v1, the previous secret's last", h)
	}
	for _, s := range []string{"whsec_new", vectorSecret} {
		if !webhooks.Verify(h, []byte(vectorBody), s, vectorTime, 5*time.Minute) {
			t.Errorf("a receiver with %s must accept it", s)
		}
	}
}

func TestVerify(t *testing.T) {
	good := "t=1700000000,v1=" + vectorSig
	body := []byte(vectorBody)
	cases := []struct {
		name   string
		header string
		body   []byte
		secret string
		now    time.Time
		ok     bool
	}{
		{"valid", good, body, vectorSecret, vectorTime, true},
		{"valid with spaces", "t=1700000000, v1=" + vectorSig, body, vectorSecret, vectorTime.Add(time.Minute), true},
		{"tampered body", good, []byte(`{"id":"vault-2"}`), vectorSecret, vectorTime, false},
		{"wrong secret", good, body, "whsec_other", vectorTime, false},
		{"replayed too late", good, body, vectorSecret, vectorTime.Add(6 * time.Minute), false},
		{"from the future", good, body, vectorSecret, vectorTime.Add(-6 * time.Minute), false},
		{"no timestamp", "v1=" + vectorSig, body, vectorSecret, vectorTime, false},
		{"bad timestamp", "t=x,v1=" + vectorSig, body, vectorSecret, vectorTime, false},
		{"timestamp moved", "t=1700000001,v1=" + vectorSig, body, vectorSecret, vectorTime, false},
		{"no signature", "t=1700000000", body, vectorSecret, vectorTime, false},
		{"empty", "", body, vectorSecret, vectorTime, false},
	}
	for _, c := range cases {
		if got := webhooks.Verify(c.header, c.body, c.secret, c.now, 5*time.Minute); got != c.ok {
			t.Errorf("%s: Verify = %v, want %v", c.name, got, c.ok)
		}
	}
}

// FuzzVerify: whatever the header, an accepted one carries the real
// signature of the body at its own timestamp.
func FuzzVerify(f *testing.F) {
	f.Add("t=1700000000,v1="+vectorSig, vectorBody)
	f.Add("t=,v1=,v1", "")
	f.Add("t=1700000000,t=1,v1="+vectorSig, vectorBody)
	f.Fuzz(func(t *testing.T, header, body string) {
		if !webhooks.Verify(header, []byte(body), vectorSecret, vectorTime, 5*time.Minute) {
			return
		}
		for _, part := range strings.Split(header, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if n, err := strconv.ParseInt(v, 10, 64); k == "t" && err == nil &&
				strings.Contains(header, "v1="+webhooks.Sign(vectorSecret, time.Unix(n, 0), []byte(body))) {
				return
			}
		}
		t.Fatalf("accepted %q for %q without its signature", header, body)
	})
}
