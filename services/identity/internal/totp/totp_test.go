package totp

import (
	"testing"
	"time"
)

// RFC 6238 appendix B, SHA-1 rows, truncated to 6 digits.
func TestRFC6238Vectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"},
		{1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"},
	} {
		if got := Code(secret, Step(time.Unix(tc.unix, 0))); got != tc.want {
			t.Errorf("t=%d: got %s want %s", tc.unix, got, tc.want)
		}
	}
}

func TestVerifyAcceptsOnceAndSkew(t *testing.T) {
	secret, _ := NewSecret()
	now := time.Unix(1_700_000_000, 0)
	code := Code(secret, Step(now)-1)
	step, ok := Verify(secret, code, now, 0)
	if !ok || step != Step(now)-1 {
		t.Fatalf("previous step refused: %v %v", step, ok)
	}
	if _, ok := Verify(secret, code, now, step); ok {
		t.Fatal("code accepted twice")
	}
	if _, ok := Verify(secret, Code(secret, Step(now)-2), now, 0); ok {
		t.Fatal("code two steps old accepted")
	}
	if _, ok := Verify(secret, "12345", now, 0); ok {
		t.Fatal("short code accepted")
	}
}
