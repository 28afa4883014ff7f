package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
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

type requestIDKey struct{}

// requestIDFrom returns the request id withRequestID gave the request.
func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// withRequestID gives every request an X-Request-Id: the caller's when it
// passes the rule every service applies (server.ValidRequestID: at most 128
// printable ASCII characters), else a fresh one. The header is forwarded to
// the services (incomingHeader), which log it and pass it on, and echoed back.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !server.ValidRequestID(id) || len(r.Header.Values("X-Request-Id")) > 1 {
			id = server.NewRequestID()
		}
		r.Header.Set("X-Request-Id", id)
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
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
}

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

type routeKey struct{}

// routeLabel is filled once the route is known: by recordRoute for the API,
// by edgeRoute for the gateway's own paths.
type routeLabel struct{ route string }

func setRoute(ctx context.Context, route string) {
	if label, ok := ctx.Value(routeKey{}).(*routeLabel); ok {
		label.route = route
	}
}

// edgeRoute labels a handler of the gateway's own paths.
func edgeRoute(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setRoute(r.Context(), route)
		h.ServeHTTP(w, r)
	})
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
func observe(m *metrics, log *zap.Logger, accessLog bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			m.inFlight.Inc()
			defer m.inFlight.Dec()
			label := &routeLabel{}
			rec := &statusRecorder{ResponseWriter: w}
			ctx := context.WithValue(r.Context(), routeKey{}, label)
			next.ServeHTTP(rec, r.WithContext(ctx))

			route := label.route
			if route == "" {
				route = "unmatched"
			}
			code := rec.status()
			elapsed := time.Since(start)
			m.requests.WithLabelValues(route, r.Method, strconv.Itoa(code)).Inc()
			m.latency.WithLabelValues(route, r.Method).Observe(elapsed.Seconds())

			span := trace.SpanFromContext(ctx)
			span.SetName(r.Method + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
			if !accessLog {
				return
			}
			level := zapcore.InfoLevel
			if probeRoutes[route] {
				level = zapcore.DebugLevel
			}
			if ce := log.Check(level, "http"); ce != nil {
				fields := []zap.Field{
					zap.String("method", r.Method),
					zap.String("route", route),
					zap.Int("status", code),
					zap.Duration("duration", elapsed),
					zap.Int64("bytes", rec.bytes),
					zap.String("request_id", requestIDFrom(ctx)),
				}
				if user := tokenSubject(r.Header.Get("Authorization")); user != "" {
					fields = append(fields, zap.String("user", user))
				}
				if sc := span.SpanContext(); sc.HasTraceID() {
					fields = append(fields, zap.String("trace_id", sc.TraceID().String()))
				}
				ce.Write(fields...)
			}
		})
	}
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
