// Package logging builds the one *zap.Logger a process passes down, and
// carries a call's request id in its context so that every line logged for
// the call names it and its trace id (Fields, For).
package logging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a JSON production logger at the given level, named after the service.
func New(service, level string) (*zap.Logger, error) {
	cfg, err := productionConfig(level)
	if err != nil {
		return nil, err
	}
	log, err := cfg.Build()
	if err != nil {
		return nil, err
	}
	return log.With(zap.String("service", service)), nil
}

// NewBuffered is New with its lines written to stderr in batches: a line
// waits at most flushEvery (or until 64 KiB wait), a line at warn level or
// above is written at once with every line before it, and Sync writes what
// waits. For a process that logs a line per request at info (the gateway's
// access log, issue 14) that is one write every flushEvery instead of one
// per request. Lines are written whole and in order; what waits when the
// process dies of a crash (not of a signal: its main function syncs) is
// lost.
func NewBuffered(service, level string, flushEvery time.Duration) (*zap.Logger, error) {
	return newBufferedTo(service, level, os.Stderr, flushEvery)
}

func newBufferedTo(service, level string, out io.Writer, flushEvery time.Duration) (*zap.Logger, error) {
	cfg, err := productionConfig(level)
	if err != nil {
		return nil, err
	}
	w := newBatchWriter(out, flushEvery, 64<<10)
	core := zapcore.NewCore(zapcore.NewJSONEncoder(cfg.EncoderConfig), w, cfg.Level)
	log, err := cfg.Build(zap.WrapCore(func(zapcore.Core) zapcore.Core { return flushingCore{core, w} }))
	if err != nil {
		return nil, err
	}
	return log.With(zap.String("service", service)), nil
}

func productionConfig(level string) (zap.Config, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return zap.Config{}, fmt.Errorf("log-level: %w", err)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.EncoderConfig.TimeKey = "time"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.Sampling = nil
	// Stack traces of the logging call site say nothing about a failed
	// call; a panic's own stack is logged by the recovery interceptor.
	cfg.DisableStacktrace = true
	return cfg, nil
}

// batchWriter holds whole lines and writes them together (NewBuffered).
type batchWriter struct {
	mu      sync.Mutex
	out     io.Writer
	buf     []byte
	limit   int
	every   time.Duration
	timer   *time.Timer
	pending bool // the timer runs
}

func newBatchWriter(out io.Writer, every time.Duration, limit int) *batchWriter {
	w := &batchWriter{out: out, limit: limit, every: every}
	w.timer = time.AfterFunc(time.Hour, func() { _ = w.Sync() })
	w.timer.Stop()
	return w
}

// Write takes one line (zap writes each entry in one call).
func (w *batchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf)+len(p) > w.limit {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) >= w.limit {
		return w.out.Write(p)
	}
	w.buf = append(w.buf, p...)
	if !w.pending {
		w.pending = true
		w.timer.Reset(w.every)
	}
	return len(p), nil
}

// Sync writes what waits.
func (w *batchWriter) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *batchWriter) flushLocked() error {
	w.pending = false
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.out.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// flushingCore writes lines at warn level and above at once.
type flushingCore struct {
	zapcore.Core
	w *batchWriter
}

func (c flushingCore) Level() zapcore.Level { return zapcore.LevelOf(c.Core) }

func (c flushingCore) With(fields []zapcore.Field) zapcore.Core {
	return flushingCore{c.Core.With(fields), c.w}
}

func (c flushingCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c flushingCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	err := c.Core.Write(e, fields)
	if e.Level >= zapcore.WarnLevel {
		err = errors.Join(err, c.w.Sync())
	}
	return err
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
