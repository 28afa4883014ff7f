// Package gateway is Vigil's HTTP/JSON edge: grpc-gateway handlers for every
// service, the hand-written streaming and CSV routes, and the edge's own
// paths (/healthz, /readyz, the OpenAPI documents, the key set, /metrics).
package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/vigil/vigil/gen/openapi"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/runtime/client"
	"github.com/vigil/vigil/services/runtime/telemetry"
)

// upstream is one gRPC service behind the gateway.
type upstream struct {
	name string // identity, directory, vault, notify
	conn *grpc.ClientConn
}

// maxResponseBytes bounds one gRPC answer the gateway accepts from a
// service; far above any page, so that a size refusal can only be a
// request's (see isMessageSizeError).
const maxResponseBytes = 64 << 20

func dialUpstreams(cfg *Config, extra ...grpc.DialOption) ([]upstream, error) {
	opts := append([]grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxResponseBytes))}, extra...)
	var ups []upstream
	for _, name := range []string{"identity", "directory", "vault", "notify"} {
		conn, err := client.Dial(&cfg.Common, cfg.ServiceAddr(name), opts...)
		if err != nil {
			for _, u := range ups {
				_ = u.conn.Close()
			}
			return nil, err
		}
		ups = append(ups, upstream{name: name, conn: conn})
	}
	return ups, nil
}

func connOf(upstreams []upstream, name string) *grpc.ClientConn {
	for _, u := range upstreams {
		if u.name == name {
			return u.conn
		}
	}
	return nil
}

// registrationOrder registers the services' routes least used first (see
// newEdge).
var registrationOrder = []string{"notify", "vault", "directory", "identity"}

// edge is the gateway's HTTP side: the public handler and, apart, the
// metrics it serves on /metrics (or on --metrics-addr).
type edge struct {
	public  http.Handler
	metrics *metrics
	mux     *runtime.ServeMux // the API's routes (tests list them)
}

// NewHandler is the gateway's public HTTP handler over the given upstreams
// (what Run serves; tests serve it with httptest).
func NewHandler(ctx context.Context, cfg *Config, log *zap.Logger, upstreams []upstream) (http.Handler, error) {
	e, err := newEdge(ctx, cfg, log, upstreams)
	if err != nil {
		return nil, err
	}
	return e.public, nil
}

// newEdge builds the whole HTTP handler over the given upstreams. The chain,
// outermost first:
//
//	upload deadline → tracing (with an OTLP endpoint) → request id → observe (metrics, access log)
//	→ CORS → no-store → body bound → ETag → grpc-gateway mux
//
// and inside the mux, once a route matched: probe stop (for 405's Allow) →
// route label → UTF-8 check → the generated or hand-written handler.
func newEdge(ctx context.Context, cfg *Config, log *zap.Logger, upstreams []upstream) (*edge, error) {
	cors, err := newCORS(cfg.CORSAllowedOrigins)
	if err != nil {
		return nil, err
	}
	m := newMetrics()
	mux := runtime.NewServeMux(
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithOutgoingHeaderMatcher(outgoingHeader),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, jsonMarshaler{&runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: false},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}}),
		runtime.SetQueryParameterParser(&queryParser{}),
		runtime.WithMiddlewares(stopProbes, recordRoute, validUTF8),
		runtime.WithErrorHandler(writeStatusError),
		runtime.WithRoutingErrorHandler(routingError),
	)
	// grpc-gateway tries a method's routes from the last registered to the
	// first, one pattern match (and a few allocations) each: the services
	// are registered least used first, so that identity's routes (GET
	// /v1/me, sign-in, refresh: every session) are tried first instead of
	// after a hundred others (issue 14). No path matches the routes of two
	// services (TestServicesRoutesDoNotOverlap): the order decides nothing
	// else.
	for _, name := range registrationOrder {
		for _, u := range upstreams {
			if u.name != name {
				continue
			}
			for _, register := range registrations[u.name] {
				if err := register(ctx, mux, u.conn); err != nil {
					return nil, fmt.Errorf("register %s routes: %w", u.name, err)
				}
			}
		}
	}
	if err := registerFileRoutes(mux, cfg, log, upstreams); err != nil {
		return nil, err
	}
	if err := registerDirectoryFileRoutes(mux, cfg, log, upstreams); err != nil {
		return nil, err
	}
	if err := registerEdgeRoutes(mux, cfg, m, upstreams); err != nil {
		return nil, err
	}

	var h http.Handler = mux
	h = withETag(h)
	h = limitBody(h, cfg.MaxBodyBytes)
	h = noStore(h)
	h = cors.wrap(h)
	h = observe(m, log, cfg.AccessLog)(h)
	h = withRequestID(h)
	h = telemetry.HTTPHandler(&cfg.Common, h, "http")
	h = withUploadDeadline(h, cfg.UploadTimeout)
	return &edge{public: h, metrics: m, mux: mux}, nil
}

// registerEdgeRoutes adds the gateway's own paths to the same mux as the API,
// so that every path gets the same treatment (405 with Allow, access log).
func registerEdgeRoutes(mux *runtime.ServeMux, cfg *Config, m *metrics, upstreams []upstream) error {
	serve := func(h http.Handler) runtime.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request, _ map[string]string) { h.ServeHTTP(w, r) }
	}
	healthz := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	err := errors.Join(
		mux.HandlePath(http.MethodGet, "/healthz", serve(healthz)),
		mux.HandlePath(http.MethodGet, "/readyz", serve(readiness(upstreams, cfg.ReadyTimeout))),
		mux.HandlePath(http.MethodGet, "/openapi.json", serve(serveDocument(openapi.Document))),
		mux.HandlePath(http.MethodGet, "/openapi.v3.json", serve(serveDocument(openapi.DocumentV3))),
	)
	if cfg.MetricsAddr == "" {
		// /metrics is not part of the API (and not in its documents); with
		// --metrics-addr it is served there instead.
		err = errors.Join(err, mux.HandlePath(http.MethodGet, "/metrics", serve(m.handler())))
	}
	if conn := connOf(upstreams, "identity"); conn != nil {
		keys := identityv1.NewIdentityServiceClient(conn)
		err = errors.Join(err, mux.HandlePath(http.MethodGet, jwksPattern, func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
			serveJWKS(mux, keys, w, r)
		}))
	}
	return err
}

// jwksPattern is where JOSE libraries look for a key set first; it serves
// the same keys as GET /v1/auth/keys.
const jwksPattern = "/.well-known/jwks.json"

func serveJWKS(mux *runtime.ServeMux, keys identityv1.IdentityServiceClient, w http.ResponseWriter, r *http.Request) {
	_, out := runtime.MarshalerForRequest(mux, r)
	ctx, err := runtime.AnnotateContext(r.Context(), mux, r, identityv1.IdentityService_GetJwks_FullMethodName,
		runtime.WithHTTPPathPattern(jwksPattern))
	if err != nil {
		runtime.HTTPError(r.Context(), mux, out, w, r, err)
		return
	}
	resp, err := keys.GetJwks(ctx, &identityv1.GetJwksRequest{})
	if err != nil {
		runtime.HTTPError(ctx, mux, out, w, r, err)
		return
	}
	runtime.ForwardResponseMessage(ctx, mux, out, w, r, resp)
}

// incomingHeader forwards only X-Request-Id. grpc-gateway itself forwards
// Authorization (as "authorization") and sets X-Forwarded-For, which
// identity uses to slow down brute force per client address; W3C trace
// context travels through the gRPC client's OpenTelemetry handler.
func incomingHeader(key string) (string, bool) {
	if textproto.CanonicalMIMEHeaderKey(key) == "X-Request-Id" {
		return "x-request-id", true
	}
	return "", false
}

// outgoingHeader passes no gRPC response metadata to HTTP callers; the
// request id is already set by withRequestID.
func outgoingHeader(string) (string, bool) { return "", false }
