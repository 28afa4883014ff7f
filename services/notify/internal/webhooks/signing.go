package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Delivery headers.
const (
	// HeaderSignature is `t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`,
	// with one v1 per valid secret (two during a rotation).
	HeaderSignature = "Vigil-Signature"
	// HeaderWebhookID and HeaderIdempotencyKey carry the event id: the same
	// on every attempt, so that a receiver drops repeats.
	HeaderWebhookID      = "Webhook-Id"
	HeaderIdempotencyKey = "Idempotency-Key"
	// ContentType is CloudEvents' structured JSON mode.
	ContentType = "application/cloudevents+json; charset=utf-8"
)

// secretPrefix marks a signing secret; the whole string (prefix included)
// is the HMAC key.
const secretPrefix = "whsec_"

// newSecret returns a fresh signing secret: 32 random bytes.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return secretPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// Sign is the hex HMAC-SHA256, keyed by the secret, of "<t>.<body>".
func Sign(secret string, t time.Time, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(t.Unix(), 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// SignatureHeader is the Vigil-Signature value for body sent at t, signed
// by each secret in turn.
func SignatureHeader(t time.Time, body []byte, secrets ...string) string {
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(strconv.FormatInt(t.Unix(), 10))
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(Sign(s, t, body))
	}
	return b.String()
}

// Verify checks a Vigil-Signature header as a receiver does: one v1 must
// match the secret, and t must be within tolerance of now (so that a
// captured delivery cannot be replayed later).
func Verify(header string, body []byte, secret string, now time.Time, tolerance time.Duration) bool {
	var ts int64 = -1
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return false
			}
			ts = n
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if ts < 0 {
		return false
	}
	t := time.Unix(ts, 0)
	if d := now.Sub(t); d > tolerance || d < -tolerance {
		return false
	}
	want := []byte(Sign(secret, t, body))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			return true
		}
	}
	return false
}
