// Package logging builds the one *zap.Logger a process passes down, and
// carries a call's request id in its context so that every line logged for
// the call names it and its trace id (Fields, For).
package logging

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a JSON production logger at the given level, named after the service.
func New(service, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log-level: %w", err)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.EncoderConfig.TimeKey = "time"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.Sampling = nil
	// Stack traces of the logging call site say nothing about a failed
	// call; a panic's own stack is logged by the recovery interceptor.
	cfg.DisableStacktrace = true
	log, err := cfg.Build()
	if err != nil {
		return nil, err
	}
	return log.With(zap.String("service", service)), nil
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying a call's request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID is the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// TraceID is the W3C trace id of the span ctx carries, or "".
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}

// Fields are the fields that tie a log line to its call: request_id and,
// when the call is traced, trace_id.
func Fields(ctx context.Context) []zap.Field {
	fields := make([]zap.Field, 0, 2)
	if id := RequestID(ctx); id != "" {
		fields = append(fields, zap.String("request_id", id))
	}
	if id := TraceID(ctx); id != "" {
		fields = append(fields, zap.String("trace_id", id))
	}
	return fields
}

// For is log with the fields of the call ctx belongs to: what handlers and
// domain code use for a line about one call.
func For(ctx context.Context, log *zap.Logger) *zap.Logger {
	fields := Fields(ctx)
	if len(fields) == 0 {
		return log
	}
	return log.With(fields...)
}
