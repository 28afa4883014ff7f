// Package totp implements RFC 6238 time-based one-time passwords (HMAC-SHA1,
// 30-second steps, 6 digits), as every authenticator app computes them.
//
// It is written here rather than taken from a library because it is twenty
// lines over crypto/hmac, and because R-ID-8's "a code is accepted once"
// needs the matched time step, which the common libraries do not return.
package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"time"
)

// RFC 6238 parameters used by Vigil.
const (
	Period    = 30 // seconds per step
	Digits    = 6
	Skew      = 1 // steps accepted either side of now
	SecretLen = 20
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a random 160-bit shared secret.
func NewSecret() ([]byte, error) {
	s := make([]byte, SecretLen)
	_, err := rand.Read(s)
	return s, err
}

// EncodeSecret is the secret as authenticators take it: base32, no padding.
func EncodeSecret(secret []byte) string { return b32.EncodeToString(secret) }

// URL is the otpauth:// URL (Key Uri Format) to show as a QR code.
func URL(issuer, account string, secret []byte) string {
	q := url.Values{}
	q.Set("secret", EncodeSecret(secret))
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", fmt.Sprint(Digits))
	q.Set("period", fmt.Sprint(Period))
	label := url.PathEscape(issuer + ":" + account)
	return "otpauth://totp/" + label + "?" + q.Encode()
}

// Step is the RFC 6238 time step of t.
func Step(t time.Time) int64 { return t.Unix() / Period }

// Code is the code of one step (RFC 4226 HOTP with the step as counter).
func Code(secret []byte, step int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1_000_000)
}

// Verify checks code against the steps around now and returns the step it
// matched. A step at or before lastUsed is refused, so that each code is
// accepted once (R-ID-8); the caller stores the returned step as lastUsed.
func Verify(secret []byte, code string, now time.Time, lastUsed int64) (int64, bool) {
	if len(code) != Digits {
		return 0, false
	}
	cur := Step(now)
	for s := cur - Skew; s <= cur+Skew; s++ {
		if s <= lastUsed {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(Code(secret, s)), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}
