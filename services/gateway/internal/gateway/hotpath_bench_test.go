package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/runtime/server/servertest"
)

// BenchmarkHotPath (issue 14): the gateway's own cost of an authenticated
// read (GET /v1/me through the whole edge chain, the gRPC call to a fake
// identity over an in-memory connection, the JSON answer) against
// /healthz, in one process and without sockets, so that allocations per
// request show what each change saves. Default configuration (access log
// on, JSON-encoded to nowhere), tracing off.
func BenchmarkHotPath(b *testing.B) {
	for _, accessLog := range []bool{true, false} {
		name := "access-log"
		if !accessLog {
			name = "no-access-log"
		}
		b.Run(name, func(b *testing.B) {
			cfg, err := ParseConfig(nil)
			if err != nil {
				b.Fatal(err)
			}
			cfg.AccessLog = accessLog
			lis := bufconn.Listen(1 << 20)
			gs := grpc.NewServer()
			identityv1.RegisterIdentityServiceServer(gs, &fakeIdentity{me: &identityv1.User{
				Name: "companies/c1/users/u1", Email: "ada@acme.test", GivenName: "Ada", FamilyName: "Lovelace", Role: identityv1.Role_ROLE_ADMINISTRATOR,
			}})
			go func() { _ = gs.Serve(lis) }()
			b.Cleanup(gs.Stop)
			conn := servertest.Dial(b, lis)
			var ups []upstream
			for _, n := range []string{"identity", "directory", "vault", "notify"} {
				ups = append(ups, upstream{name: n, conn: conn})
			}
			enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
			log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zap.InfoLevel))
			e, err := newEdge(context.Background(), cfg, log, ups)
			if err != nil {
				b.Fatal(err)
			}
			token := "Bearer eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIiwidHlwIjoiYXQrand0In0." +
				"eyJzdWIiOiJ1c2Vycy91MSIsImNvbXBhbnkiOiJjb21wYW5pZXMvYzEiLCJyb2xlIjo0LCJleHAiOjk5OTk5OTk5OTl9.c2ln"
			for _, path := range []string{"/healthz", "/v1/me"} {
				b.Run(path, func(b *testing.B) {
					req := httptest.NewRequest(http.MethodGet, path, nil)
					req.Header.Set("Authorization", token)
					req.RemoteAddr = "127.0.0.1:40000"
					b.ReportAllocs()
					start := time.Now()
					for i := 0; i < b.N; i++ {
						w := httptest.NewRecorder()
						e.public.ServeHTTP(w, req.Clone(req.Context()))
						if w.Code != http.StatusOK {
							b.Fatalf("%s: %d %s", path, w.Code, w.Body)
						}
					}
					b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N)/1000, "µs/req")
				})
			}
		})
	}
}

// TestServicesRoutesDoNotOverlap: no request path matches routes of two
// services for one method, so the order in which newEdge registers the
// services (the most used last, since grpc-gateway tries the last
// registered route first) decides nothing but speed.
func TestServicesRoutesDoNotOverlap(t *testing.T) {
	conn := servertest.Dial(t, bufconn.Listen(1<<10))
	type route struct{ service, method, shape string }
	var routes []route
	for service, registers := range registrations {
		mux := runtime.NewServeMux()
		for _, register := range registers {
			if err := register(context.Background(), mux, conn); err != nil {
				t.Fatal(err)
			}
		}
		handlers := reflect.ValueOf(mux).Elem().FieldByName("handlers")
		for _, method := range handlers.MapKeys() {
			list := handlers.MapIndex(method)
			for i := 0; i < list.Len(); i++ {
				field := list.Index(i).FieldByName("pat")
				pat := reflect.NewAt(field.Type(), unsafe.Pointer(field.UnsafeAddr())).Elem().Interface().(runtime.Pattern)
				routes = append(routes, route{service, method.String(), patternShape(pat.String())})
			}
		}
	}
	if len(routes) < 20 {
		t.Fatalf("found only %v: the listing is broken", routes)
	}
	for i, a := range routes {
		for _, b := range routes[i+1:] {
			if a.service != b.service && a.method == b.method && shapesOverlap(a.shape, b.shape) {
				t.Errorf("%s %s (%s) and %s (%s) match the same paths: the registration order would decide", a.method, a.shape, a.service, b.shape, b.service)
			}
		}
	}
}

// shapesOverlap tells whether some path matches both shapes ("{}" is one
// segment, or with a verb "{}:verb"; a trailing "{}" without a verb also
// takes a segment with one, as grpc-gateway captures "x:verb" whole).
func shapesOverlap(a, b string) bool {
	sa, sb := strings.Split(a, "/"), strings.Split(b, "/")
	if len(sa) != len(sb) {
		return false
	}
	for i := range sa {
		if !segmentsOverlap(sa[i], sb[i]) {
			return false
		}
	}
	return true
}

func segmentsOverlap(a, b string) bool {
	if a == b || a == "{}" || b == "{}" {
		return true
	}
	an, av, _ := strings.Cut(a, ":")
	bn, bv, _ := strings.Cut(b, ":")
	return av == bv && (an == bn || an == "{}" || bn == "{}")
}

func TestShapesOverlap(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"/v1/me", "/v1/me", true},
		{"/v1/companies/{}", "/v1/companies/{}:export", true}, // "c1:export" fills {}
		{"/v1/companies/{}/users", "/v1/companies/{}/suppliers", false},
		{"/v1/{}:a", "/v1/{}:b", false},
		{"/v1/companies/{}", "/v1/companies/{}/users", false},
	} {
		if got := shapesOverlap(tc.a, tc.b); got != tc.want {
			t.Errorf("%s vs %s: %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestEveryServiceIsRegistered: registrationOrder names every service of
// routes.go, or some routes would never be served.
func TestEveryServiceIsRegistered(t *testing.T) {
	for name := range registrations {
		if !slices.Contains(registrationOrder, name) {
			t.Errorf("%s is not in registrationOrder", name)
		}
	}
}
