package gateway

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
)

// FuzzDecodeBody: any body decodes or fails with a message that starts
// with "body" (what the caller gets), without panicking.
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{`{}`, `{"company": {"kind": "X"}}`, `{"admin": {"email": "a`, `[1, {"a": [`, "\"\\u00", `{"company": {"kind": 7}} x`, ``} {
		f.Add(seed)
	}
	m := jsonMarshaler{&runtime.JSONPb{}}
	f.Fuzz(func(t *testing.T, body string) {
		err := m.NewDecoder(strings.NewReader(body)).Decode(&identityv1.SignUpRequest{})
		if err != nil && !errors.Is(err, io.EOF) && !strings.HasPrefix(err.Error(), "body") {
			t.Fatalf("%q: %v", body, err)
		}
	})
}

// FuzzTokenSubject: whatever the Authorization header, the access log
// gets a short printable subject or nothing.
func FuzzTokenSubject(f *testing.F) {
	f.Add(bearer("users/u1"))
	f.Add("Bearer a.b.c")
	f.Add("Bearer ..")
	f.Fuzz(func(t *testing.T, header string) {
		if sub := tokenSubject(header); sub != "" && !printable(sub, 128) {
			t.Fatalf("%q gave %q", header, sub)
		}
	})
}

// FuzzNoneMatch: If-None-Match never panics and "*" always matches.
func FuzzNoneMatch(f *testing.F) {
	f.Add(`"a", W/"b"`, `"b"`)
	f.Fuzz(func(t *testing.T, header, tag string) {
		_ = noneMatch([]string{header}, tag)
		if !noneMatch([]string{header + ",*"}, tag) {
			t.Fatal("* must match")
		}
	})
}

// FuzzCheckUTF8: checkUTF8's shortcut (no parsing of a plain query) says
// what parsing the query says.
func FuzzCheckUTF8(f *testing.F) {
	for _, seed := range []string{"", "pageSize=100&pageToken=abc", "a=%ff", "a;b=c", "x=1+2", "\xff=1", "a=\xc3", "=&&=", "%zz"} {
		f.Add("companies/c1", seed)
	}
	f.Add("\xff", "a=b")
	f.Fuzz(func(t *testing.T, param, query string) {
		params := map[string]string{"name": param}
		got, want := checkUTF8(params, query), checkUTF8Parsed(params, query)
		if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
			t.Fatalf("%q %q: %v, parsing says %v", param, query, got, want)
		}
	})
}
