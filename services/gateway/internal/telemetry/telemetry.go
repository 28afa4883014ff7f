// Package telemetry is the gateway's OpenTelemetry tracing (issue 12 point
// 5): a server span per HTTP request, continuing a caller's W3C
// traceparent, and W3C trace context on every gRPC call to the services,
// exported over OTLP/gRPC when VIGIL_OTLP_ENDPOINT is set; without an
// endpoint nothing is installed and nothing is traced.
//
// It has the API of the suite's services/runtime/telemetry (Enabled, Setup,
// Propagator, DialOptions, HTTPHandler), which is not on main yet. When it
// is: delete this package, import services/runtime/telemetry in its place
// (gateway.go, server.go), and drop the DialOptions argument of
// dialUpstreams in Run, since runtime/client then adds them to every dial.
package telemetry

import (
	"context"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/vigil/vigil/services/runtime/config"
)

// Enabled reports whether cfg traces: only with an OTLP endpoint.
func Enabled(cfg *config.Common) bool { return cfg.OTLPEndpoint != "" }

// Setup installs, when cfg has an OTLP endpoint, a tracer provider named
// vigil-<service> that batches spans to it (parent-based sampling) and the
// W3C propagators, process-wide; it returns the function that flushes and
// stops it. Without an endpoint it installs nothing.
func Setup(cfg *config.Common, log *zap.Logger) func() error {
	if !Enabled(cfg) {
		return func() error { return nil }
	}
	exp, err := otlptracegrpc.New(context.Background(), exporterOptions(cfg.OTLPEndpoint)...)
	if err != nil {
		log.Error("tracing off: OTLP exporter", zap.Error(err), zap.String("endpoint", cfg.OTLPEndpoint))
		return func() error { return nil }
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "vigil-"+cfg.Service))))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(Propagator())
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing", zap.Error(err)) }))
	log.Info("tracing to OTLP", zap.String("endpoint", cfg.OTLPEndpoint))
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

// DialOptions trace every gRPC call the gateway makes and propagate the
// trace to the service; none without an endpoint.
func DialOptions(cfg *config.Common) []grpc.DialOption {
	if !Enabled(cfg) {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(
		otelgrpc.WithMeterProvider(noop.NewMeterProvider()),
		otelgrpc.WithPropagators(Propagator()),
	))}
}

// HTTPHandler starts a server span per HTTP request, named operation (the
// gateway renames it after the route), continuing a caller's W3C
// traceparent; probes and scrapes are not traced. Without an endpoint it
// returns h itself.
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
