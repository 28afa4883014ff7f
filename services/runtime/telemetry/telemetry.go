// Package telemetry is the suite's OpenTelemetry tracing (issue 12 point
// 5): W3C trace context propagated over gRPC and HTTP, spans for every gRPC
// call (server and client) and, at the gateway, every HTTP request,
// exported over OTLP/gRPC when config OTLPEndpoint (VIGIL_OTLP_ENDPOINT) is
// set. Without an endpoint nothing is installed: no exporter, no stats
// handler, no cost per call.
//
// A process calls Setup once (each service's app, the gateway's Run);
// runtime/server and runtime/client add the gRPC stats handlers themselves
// (ServerOptions, DialOptions); the gateway wraps its handler with
// HTTPHandler. Log lines name the trace with logging.Fields.
package telemetry

import (
	"context"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/vigil/vigil/services/runtime/config"
)

// Enabled reports whether cfg traces: only with an OTLP endpoint.
func Enabled(cfg *config.Common) bool { return cfg.OTLPEndpoint != "" }

// Setup installs tracing for the process when cfg has an OTLP endpoint: a
// tracer provider named after cfg.Service that batches spans to the
// endpoint (sampling: parent-based, everything by default; OTEL_TRACES_SAMPLER
// and OTEL_TRACES_SAMPLER_ARG change it), and the W3C trace-context and
// baggage propagators. It returns the function that flushes and stops it
// (for Server.OnClose); without an endpoint it installs nothing.
func Setup(cfg *config.Common, log *zap.Logger) func() error {
	if !Enabled(cfg) {
		return func() error { return nil }
	}
	exp, err := otlptracegrpc.New(context.Background(), exporterOptions(cfg.OTLPEndpoint)...)
	if err != nil {
		// The exporter connects lazily; this fails only on a malformed
		// endpoint. Tracing is an aid: the service runs without it.
		log.Error("tracing off: OTLP exporter", zap.Error(err), zap.String("endpoint", cfg.OTLPEndpoint))
		return func() error { return nil }
	}
	shutdown := install(cfg, log, sdktrace.WithBatcher(exp))
	log.Info("tracing to OTLP", zap.String("endpoint", cfg.OTLPEndpoint))
	return shutdown
}

// install sets the global tracer provider with the given span processing
// (tests pass a synchronous in-memory exporter) and the propagators.
func install(cfg *config.Common, log *zap.Logger, processing sdktrace.TracerProviderOption) func() error {
	// Schemaless, so that merging with the SDK's default resource (whose
	// schema version may differ) cannot fail and lose the service's name.
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName("vigil-"+cfg.Service), semconv.ServiceNamespace("vigil")))
	if err != nil {
		res = resource.NewSchemaless(semconv.ServiceName("vigil-" + cfg.Service))
	}
	tp := sdktrace.NewTracerProvider(processing, sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(Propagator())
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing", zap.Error(err)) }))
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return tp.Shutdown(ctx)
	}
}

// Propagator is W3C trace context and baggage.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// exporterOptions: a URL (http:// plaintext, https:// TLS) is taken as is;
// a bare host:port is plaintext on loopback, TLS otherwise.
func exporterOptions(endpoint string) []otlptracegrpc.Option {
	if strings.Contains(endpoint, "://") {
		return []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(endpoint)}
	}
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(endpoint)}
	if config.IsLoopback(endpoint) {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	return opts
}

// grpcOptions: spans for every call but health checks (probes every few
// seconds are noise); RPC metrics stay with Prometheus (runtime/server).
func grpcOptions() []otelgrpc.Option {
	return []otelgrpc.Option{
		otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
		otelgrpc.WithMeterProvider(noop.NewMeterProvider()),
		otelgrpc.WithPropagators(Propagator()),
	}
}

// ServerOptions trace every call a gRPC server receives, continuing the
// caller's trace; none without an endpoint.
func ServerOptions(cfg *config.Common) []grpc.ServerOption {
	if !Enabled(cfg) {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(grpcOptions()...))}
}

// DialOptions trace every call a client makes and propagate the trace to
// the callee; none without an endpoint.
func DialOptions(cfg *config.Common) []grpc.DialOption {
	if !Enabled(cfg) {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(grpcOptions()...))}
}

// HTTPHandler is for the gateway: a server span per HTTP request, named
// operation, continuing a caller's W3C traceparent; the gRPC calls made
// while serving it (through runtime/client) are its children. Without an
// endpoint it returns h itself.
func HTTPHandler(cfg *config.Common, h http.Handler, operation string) http.Handler {
	if !Enabled(cfg) {
		return h
	}
	return otelhttp.NewHandler(h, operation,
		otelhttp.WithPropagators(Propagator()),
		otelhttp.WithMeterProvider(noop.NewMeterProvider()),
		otelhttp.WithFilter(func(r *http.Request) bool {
			return r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && r.URL.Path != "/metrics"
		}))
}
