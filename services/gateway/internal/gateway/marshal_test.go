package gateway

import (
	"fmt"
	"os"
	"runtime/debug"
	"testing"

	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/runtime/config"
)

// TestAnswersAreProtojson: the gateway writes a service's answer byte for
// byte as protojson would (pbjson, issue 14): names, enums, timestamps,
// escapes and omitted defaults alike.
func TestAnswersAreProtojson(t *testing.T) {
	g := newTestGateway(t)
	me := &identityv1.User{Name: "companies/c1/users/u1", Email: "ada@acme.test", GivenName: "Ada \"<é>\"\n", FamilyName: "Lovelace",
		Role: identityv1.Role_ROLE_ADMINISTRATOR, CreateTime: timestamppb.New(timestamppb.Now().AsTime())}
	g.identity.mu.Lock()
	g.identity.me = me
	g.identity.mu.Unlock()
	resp, body := g.call(t, "GET", "/v1/me", "", "Authorization", bearer("users/u1"))
	want, err := protojson.Marshal(me)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || body != string(want) {
		t.Fatalf("GET /v1/me: %d\n%s\nwant %s", resp.StatusCode, body, want)
	}
}

// TestSubjectCache: the access log's user is tokenSubject's, for each
// token, before and after the cache fills up and starts again.
func TestSubjectCache(t *testing.T) {
	c := newSubjectCache(3)
	for round := range 3 {
		for i := range 5 {
			sub := fmt.Sprintf("users/u%d", i)
			header := bearer(sub)
			if got := c.of(header); got != sub || got != tokenSubject(header) {
				t.Fatalf("round %d: %q for %s", round, got, sub)
			}
		}
	}
	for _, header := range []string{"", "Bearer not-a-jwt", "Basic x"} {
		if got := c.of(header); got != "" {
			t.Fatalf("%q gave %q", header, got)
		}
	}
}

// TestSetGC: --gc-percent sets the collector's target unless GOGC is set.
func TestSetGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	setGC(&Config{Common: config.Common{GCPercent: 300}}, zap.NewNop())
	if got := debug.SetGCPercent(100); got != 300 {
		t.Fatalf("GOGC %d after --gc-percent 300", got)
	}
	t.Setenv("GOGC", "100")
	setGC(&Config{Common: config.Common{GCPercent: 300}}, zap.NewNop())
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC %d: the environment's GOGC must win", got)
	}
}
