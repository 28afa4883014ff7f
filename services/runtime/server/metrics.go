package server

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// rpcMetrics are the per-method gRPC server metrics, under the names
// go-grpc-middleware's Prometheus provider uses (grpc_server_started_total,
// grpc_server_handled_total{grpc_code}, grpc_server_msg_received_total,
// grpc_server_msg_sent_total, grpc_server_handling_seconds), so that
// dashboards keep working. Each method's series are looked up once and
// kept: a call costs a map read and atomic adds, and allocates nothing
// (issue 14).
type rpcMetrics struct {
	started, handled, received, sent *prometheus.CounterVec
	seconds                          *prometheus.HistogramVec
	// methods: "type full-method" → series, copied on write (a method's
	// first call) so that reads take no lock and allocate nothing.
	methods atomic.Pointer[map[string]*methodMetrics]
	mu      sync.Mutex
}

type methodMetrics struct {
	started, received, sent prometheus.Counter
	seconds                 prometheus.Observer
	handled                 [codes.Unauthenticated + 1]prometheus.Counter
}

func newRPCMetrics() *rpcMetrics {
	labels := []string{"grpc_type", "grpc_service", "grpc_method"}
	m := &rpcMetrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_started_total", Help: "Total number of RPCs started on the server.",
		}, labels),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total", Help: "Total number of RPCs completed on the server, regardless of success or failure.",
		}, append(labels, "grpc_code")),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_received_total", Help: "Total number of RPC stream messages received on the server.",
		}, labels),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_sent_total", Help: "Total number of gRPC stream messages sent by the server.",
		}, labels),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "grpc_server_handling_seconds", Help: "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
			Buckets: prometheus.DefBuckets,
		}, labels),
	}
	m.methods.Store(&map[string]*methodMetrics{})
	return m
}

// Describe implements prometheus.Collector.
func (m *rpcMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.started.Describe(ch)
	m.handled.Describe(ch)
	m.received.Describe(ch)
	m.sent.Describe(ch)
	m.seconds.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *rpcMetrics) Collect(ch chan<- prometheus.Metric) {
	m.started.Collect(ch)
	m.handled.Collect(ch)
	m.received.Collect(ch)
	m.sent.Collect(ch)
	m.seconds.Collect(ch)
}

const (
	unaryType        = "unary"
	clientStreamType = "client_stream"
	serverStreamType = "server_stream"
	bidiStreamType   = "bidi_stream"
)

// method returns the series of one method, made on its first call.
func (m *rpcMetrics) method(kind, fullMethod string) *methodMetrics {
	key := fullMethod // the common case: no concatenation
	if kind != unaryType {
		key = kind + fullMethod
	}
	if mm, ok := (*m.methods.Load())[key]; ok {
		return mm
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.methods.Load()
	if mm, ok := old[key]; ok {
		return mm
	}
	service, name, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	mm := &methodMetrics{
		started:  m.started.WithLabelValues(kind, service, name),
		received: m.received.WithLabelValues(kind, service, name),
		sent:     m.sent.WithLabelValues(kind, service, name),
		seconds:  m.seconds.WithLabelValues(kind, service, name),
	}
	for c := range mm.handled {
		mm.handled[c] = m.handled.WithLabelValues(kind, service, name, codes.Code(c).String())
	}
	next := make(map[string]*methodMetrics, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[key] = mm
	m.methods.Store(&next)
	return mm
}

func (mm *methodMetrics) done(start time.Time, err error) {
	code := status.Code(err)
	if int(code) >= len(mm.handled) {
		code = codes.Unknown
	}
	mm.handled[code].Inc()
	mm.seconds.Observe(time.Since(start).Seconds())
}

func (m *rpcMetrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	mm := m.method(unaryType, info.FullMethod)
	mm.started.Inc()
	mm.received.Inc()
	start := time.Now()
	resp, err := h(ctx, req)
	if err == nil {
		mm.sent.Inc()
	}
	mm.done(start, err)
	return resp, err
}

func (m *rpcMetrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	kind := bidiStreamType
	switch {
	case info.IsClientStream && !info.IsServerStream:
		kind = clientStreamType
	case !info.IsClientStream && info.IsServerStream:
		kind = serverStreamType
	}
	mm := m.method(kind, info.FullMethod)
	mm.started.Inc()
	start := time.Now()
	err := h(srv, &countingStream{ServerStream: ss, mm: mm})
	mm.done(start, err)
	return err
}

// countingStream counts a stream's messages.
type countingStream struct {
	grpc.ServerStream
	mm *methodMetrics
}

func (s *countingStream) SendMsg(m any) error {
	err := s.ServerStream.SendMsg(m)
	if err == nil {
		s.mm.sent.Inc()
	}
	return err
}

func (s *countingStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil {
		s.mm.received.Inc()
	}
	return err
}
