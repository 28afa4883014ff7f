package gateway

import (
	"context"
	"fmt"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// tracing is the gateway's half of OpenTelemetry (issue 12 point 5): a
// server span per HTTP request, continued from the caller's W3C traceparent
// when there is one, and W3C trace context on every gRPC call to the
// services, so that one trace id follows a request everywhere.
type tracing struct {
	provider   trace.TracerProvider
	propagator propagation.TextMapPropagator
	shutdown   func(context.Context) error
}

// newTracing exports spans over OTLP/gRPC when cfg.OTLPEndpoint is set.
// Without it spans still get ids (so that the access log and the services
// see a trace id) but none is recorded or exported.
func newTracing(ctx context.Context, cfg *Config, log *zap.Logger) (*tracing, error) {
	res := resource.NewSchemaless(attribute.String("service.name", "vigil-gateway"))
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sdktrace.NeverSample())}
	if cfg.OTLPEndpoint != "" {
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(cfg.OTLPEndpoint), otlptracegrpc.WithInsecure())
		if err != nil {
			return nil, fmt.Errorf("otlp-endpoint: %w", err)
		}
		opts = []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithBatcher(exp),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample()))}
		log.Info("exporting traces", zap.String("otlp_endpoint", cfg.OTLPEndpoint))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return &tracing{
		provider:   tp,
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		shutdown:   tp.Shutdown,
	}, nil
}

// handler starts a server span per request (named after its route once
// observe knows it).
func (t *tracing) handler(next http.Handler) http.Handler {
	return otelhttp.NewHandler(next, "http",
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithPropagators(t.propagator),
		otelhttp.WithMeterProvider(noopMeters),
	)
}

// dialOption propagates the span's context to the services in gRPC metadata.
func (t *tracing) dialOption() grpc.DialOption {
	return grpc.WithStatsHandler(otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(t.provider),
		otelgrpc.WithPropagators(t.propagator),
		otelgrpc.WithMeterProvider(noopMeters),
	))
}

// noopMeters keeps OpenTelemetry's own HTTP and gRPC metrics off: the
// gateway's request metrics are Prometheus's (observe).
var noopMeters = metricnoop.NewMeterProvider()
