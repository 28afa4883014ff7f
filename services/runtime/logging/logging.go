// Package logging builds the one *zap.Logger a process passes down.
package logging

import (
	"fmt"

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
