package telemetry_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/runtime/client"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/logging"
	"github.com/vigil/vigil/services/runtime/server"
	"github.com/vigil/vigil/services/runtime/telemetry"
)

// TestTraceCrossesGRPCAndReachesTheLog: with an OTLP endpoint configured, a
// client call carries its trace (W3C trace context) to the server, the
// server's span is the client span's child, and the server's log line of
// the call names the trace id beside the request id.
func TestTraceCrossesGRPCAndReachesTheLog(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	cfg := &config.Common{Service: "notify", OTLPEndpoint: "127.0.0.1:4317", ShutdownTimeout: time.Second}
	shutdown := telemetry.Install(cfg, zap.NewNop(), sdktrace.WithSyncer(exp))
	defer shutdown()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NotifyAddr = lis.Addr().String()
	core, logs := observer.New(zap.DebugLevel)
	srv, err := server.New(cfg, zap.New(core), server.Options{Listener: lis})
	if err != nil {
		t.Fatal(err)
	}
	notifyv1.RegisterNotificationServiceServer(srv.GRPC(), notifyv1.UnimplementedNotificationServiceServer{})
	srv.MarkServing()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	conn, err := client.Dial(cfg, lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	callCtx, span := otel.Tracer("test").Start(context.Background(), "caller")
	_, _ = notifyv1.NewNotificationServiceClient(conn).ListMyNotifications(callCtx, &notifyv1.ListMyNotificationsRequest{})
	_, _ = healthpb.NewHealthClient(conn).Check(callCtx, &healthpb.HealthCheckRequest{})
	span.End()
	traceID := span.SpanContext().TraceID()

	var serverSpan *tracetest.SpanStub
	for deadline := time.Now().Add(2 * time.Second); serverSpan == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, s := range exp.GetSpans() {
			if s.SpanKind == trace.SpanKindServer {
				s := s
				serverSpan = &s
			}
		}
	}
	if serverSpan == nil {
		t.Fatalf("no server span among %d spans", len(exp.GetSpans()))
	}
	if serverSpan.SpanContext.TraceID() != traceID || serverSpan.Name != "vigil.notify.v1.NotificationService/ListMyNotifications" {
		t.Fatalf("server span %q in trace %s, want ListMyNotifications in the caller's trace %s", serverSpan.Name, serverSpan.SpanContext.TraceID(), traceID)
	}
	if name, _ := serverSpan.Resource.Set().Value("service.name"); name.AsString() != "vigil-notify" {
		t.Fatalf("spans' service.name %q, want vigil-notify", name.AsString())
	}
	for _, s := range exp.GetSpans() {
		if s.Name == "grpc.health.v1.Health/Check" {
			t.Error("health checks must not be traced")
		}
	}
	lines := logs.FilterMessage("rpc").FilterField(zap.String("method", "/vigil.notify.v1.NotificationService/ListMyNotifications")).All()
	if len(lines) != 1 {
		t.Fatalf("%d rpc lines for the call", len(lines))
	}
	fields := lines[0].ContextMap()
	if fields["trace_id"] != traceID.String() || fields["request_id"] == "" {
		t.Fatalf("rpc line fields %v, want trace_id %s and a request_id", fields, traceID)
	}
}

// TestOffWithoutAnEndpoint: no OTLP endpoint, nothing installed.
func TestOffWithoutAnEndpoint(t *testing.T) {
	cfg := &config.Common{Service: "vault"}
	if telemetry.ServerOptions(cfg) != nil || telemetry.DialOptions(cfg) != nil {
		t.Fatal("stats handlers installed without an endpoint")
	}
	h := http.NotFoundHandler()
	if got := telemetry.HTTPHandler(cfg, h, "gateway"); got == nil || logging.TraceID(context.Background()) != "" {
		t.Fatal("HTTPHandler without an endpoint must return the handler")
	}
	_ = telemetry.Setup(cfg, zap.NewNop())()
}

// TestHTTPHandlerContinuesTheCallersTrace: the gateway's wrapper takes a
// W3C traceparent from the request.
func TestHTTPHandlerContinuesTheCallersTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	cfg := &config.Common{Service: "gateway", OTLPEndpoint: "127.0.0.1:4317"}
	defer telemetry.Install(cfg, zap.NewNop(), sdktrace.WithSyncer(exp))()
	var seen string
	h := telemetry.HTTPHandler(cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = logging.TraceID(r.Context())
	}), "gateway")
	req := httptest.NewRequest("GET", "/v1/me", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if seen != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("trace id in the handler %q, want the caller's", seen)
	}
	if len(exp.GetSpans()) != 1 {
		t.Fatalf("%d spans, want the request's", len(exp.GetSpans()))
	}
}
