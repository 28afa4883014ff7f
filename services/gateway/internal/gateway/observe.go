package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"hash/maphash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vigil/vigil/services/runtime/server"
)

// requestState is what the edge learns about a request as it goes: its id
// (withRequestID), its route pattern once routed (recordRoute)
// and its answer's status and size (observe). One per request, carried in
// its context.
type requestState struct {
	id    string
	route string
	rec   statusRecorder
}

type requestStateKey struct{}

func stateOf(ctx context.Context) *requestState {
	st, _ := ctx.Value(requestStateKey{}).(*requestState)
	return st
}

// withRequestID gives every request an X-Request-Id: the caller's when it
// passes the rule every service applies (server.ValidRequestID: at most 128
// printable ASCII characters), else a fresh one. The header is forwarded to
// the services (incomingHeader), which log it and pass it on, and echoed back.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids := r.Header["X-Request-Id"]
		var id string
		if len(ids) == 1 && server.ValidRequestID(ids[0]) {
			id = ids[0]
		} else {
			id = server.NewRequestID()
			r.Header.Set("X-Request-Id", id)
		}
		w.Header()["X-Request-Id"] = []string{id}
		st := &requestState{id: id}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestStateKey{}, st)))
	})
}

// metrics counts requests and latency per route pattern (not per raw path,
// which would explode the label space), requests in flight and open
// connections.
type metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	inFlight    prometheus.Gauge
	connections prometheus.Gauge
	series      sync.Map // routeMetricsKey → *routeMetrics
}

// routeMetrics are the series of one route, method and status.
type routeMetrics struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

type routeMetricsKey struct {
	route, method string
	code          int
}

// record counts one answer. The series of matched routes are looked up
// once and kept (their methods and statuses are few); the others'
// (unmatched paths, with any method a client sends) each time.
func (m *metrics) record(route, method string, code int, elapsed time.Duration) {
	var rm *routeMetrics
	k := routeMetricsKey{route, method, code}
	if v, ok := m.series.Load(k); ok {
		rm = v.(*routeMetrics)
	} else {
		rm = &routeMetrics{m.requests.WithLabelValues(route, method, strconv.Itoa(code)), m.latency.WithLabelValues(route, method)}
		if route != unmatchedRoute {
			m.series.Store(k, rm)
		}
	}
	rm.requests.Inc()
	rm.latency.Observe(elapsed.Seconds())
}

// unmatchedRoute labels requests no route matched.
const unmatchedRoute = "unmatched"

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_gateway_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_gateway_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_gateway_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_gateway_http_connections", Help: "Open client connections (bounded by --max-connections).",
		}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.inFlight, m.connections,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// setRoute records the route pattern once known (recordRoute: the API and
// the gateway's own paths share the mux).
func setRoute(ctx context.Context, route string) {
	if st := stateOf(ctx); st != nil {
		st.route = route
	}
}

// recordRoute is a grpc-gateway middleware: it runs after routing, when the
// matched path pattern is known (generated and hand-written routes alike).
func recordRoute(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if p, ok := runtime.HTTPPattern(r.Context()); ok {
			setRoute(r.Context(), p.String())
		}
		next(w, r, params)
	}
}

// probeRoutes are the paths whose access log lines are at debug: kubelet
// and load-balancer probes and scrapes would drown the log at info.
var probeRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// observe measures every request and writes its access log line (issue 12
// point 3): method, route pattern, status, duration, bytes, request id, the
// user (the token's unverified `sub`; never the token) and the trace id. It
// also names the request's span after its route.
//
// The line says nothing of where in the gateway it was written: the access
// log goes without the caller's file and line, which cost a stack walk per
// request (issue 14).
func observe(m *metrics, log *zap.Logger, accessLog bool) func(http.Handler) http.Handler {
	access := log.WithOptions(zap.WithCaller(false))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			m.inFlight.Inc()
			defer m.inFlight.Dec()
			ctx := r.Context()
			st := stateOf(ctx)
			if st == nil { // not behind withRequestID
				st = &requestState{}
				ctx = context.WithValue(ctx, requestStateKey{}, st)
				r = r.WithContext(ctx)
			}
			st.rec = statusRecorder{ResponseWriter: w}
			next.ServeHTTP(&st.rec, r)

			route := st.route
			if route == "" {
				route = unmatchedRoute
			}
			code := st.rec.status()
			elapsed := time.Since(start)
			m.record(route, r.Method, code, elapsed)

			span := trace.SpanFromContext(ctx)
			if span.IsRecording() {
				span.SetName(r.Method + " " + route)
				span.SetAttributes(attribute.String("http.route", route))
			}
			if !accessLog {
				return
			}
			level := zapcore.InfoLevel
			if probeRoutes[route] {
				level = zapcore.DebugLevel
			}
			if ce := access.Check(level, "http"); ce != nil {
				fp := accessFields.Get().(*[]zap.Field)
				fields := append((*fp)[:0],
					zap.String("method", r.Method),
					zap.String("route", route),
					zap.Int("status", code),
					zap.Duration("duration", elapsed),
					zap.Int64("bytes", st.rec.bytes),
					zap.String("request_id", st.id),
				)
				if user := subjects.of(r.Header.Get("Authorization")); user != "" {
					fields = append(fields, zap.String("user", user))
				}
				if sc := span.SpanContext(); sc.HasTraceID() {
					fields = append(fields, zap.String("trace_id", sc.TraceID().String()))
				}
				ce.Write(fields...) // encoded before it returns; cores do not keep fields
				clear(fields)
				*fp = fields[:0]
				accessFields.Put(fp)
			}
		})
	}
}

// accessFields are the access log lines' field slices, reused.
var accessFields = sync.Pool{New: func() any { s := make([]zap.Field, 0, 8); return &s }}

// subjects remembers the access log's user of recent tokens: a session
// sends the same token with every request for its lifetime, and reading
// it is most of the line's cost. Tokens are not kept: entries are keyed by
// a hash of the token (a collision would only mislabel a log line).
var subjects = newSubjectCache(4096)

type subjectCache struct {
	seed  maphash.Seed
	max   int64
	n     atomic.Int64
	cache atomic.Pointer[sync.Map] // uint64 → string
}

func newSubjectCache(max int64) *subjectCache {
	c := &subjectCache{seed: maphash.MakeSeed(), max: max}
	c.cache.Store(&sync.Map{})
	return c
}

// of is tokenSubject(authorization), remembered.
func (c *subjectCache) of(authorization string) string {
	if authorization == "" {
		return ""
	}
	k := maphash.String(c.seed, authorization)
	m := c.cache.Load()
	if v, ok := m.Load(k); ok {
		return v.(string)
	}
	sub := tokenSubject(authorization)
	if c.n.Add(1) > c.max { // full: start again
		c.n.Store(0)
		m = &sync.Map{}
		c.cache.Store(m)
	}
	m.Store(k, sub)
	return sub
}

// tokenSubject returns the `sub` claim of a bearer JWT, read WITHOUT
// verifying it: it only labels the access log line (services verify every
// token themselves). Anything that is not a short printable subject is
// dropped, so that a forged token cannot inject into the log.
func tokenSubject(authorization string) string {
	token, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || len(token) > 8<<10 {
		return ""
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(payload, &claims) != nil || !printable(claims.Sub, 128) {
		return ""
	}
	return claims.Sub
}

// printable reports whether s is 1..max printable ASCII characters.
func printable(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// statusRecorder remembers the status and counts the bytes of an answer.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (s *statusRecorder) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Flush lets streamed downloads reach the client as they go.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
