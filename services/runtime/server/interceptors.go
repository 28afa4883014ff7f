package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"buf.build/go/protovalidate"
	pvinterceptor "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/logging"
)

// RequestIDKey is the metadata key (and, at the gateway, the HTTP header
// X-Request-Id) that carries a request's id across every hop.
const RequestIDKey = "x-request-id"

// RequestID returns the request id of ctx, or "".
func RequestID(ctx context.Context) string { return logging.RequestID(ctx) }

// Authenticator is the authentication hook of the chain. It returns the
// context the handler sees (carrying the caller's identity) or an error,
// usually an errs.Unauthenticated. Services plug in the token verifier here.
type Authenticator interface {
	Authenticate(ctx context.Context, fullMethod string) (context.Context, error)
}

// chain holds the interceptors in the one order every Vigil server uses:
//
//	recovery → metrics → request id → logging → caller → auth → update-mask names → validation → error translation
//
// Recovery is outermost so that a panic anywhere becomes Internal; metrics
// sits next so that it counts the final code; error translation is innermost
// so that logging and metrics see the code the caller gets. The caller check
// (which service may call an internal method) comes before the user's token.
type chain struct {
	log       *zap.Logger
	slow      time.Duration // successful calls at least this long are logged at info
	metrics   *rpcMetrics
	auth      Authenticator
	validator protovalidate.Validator
	callers   *callerCheck
}

func (c *chain) unary() []grpc.UnaryServerInterceptor {
	return []grpc.UnaryServerInterceptor{
		recovery.UnaryServerInterceptor(recovery.WithRecoveryHandlerContext(c.recovered)),
		c.metrics.unary,
		c.unaryRequestID,
		c.unaryLogging,
		c.unaryCaller,
		c.unaryAuth,
		c.unaryFieldMask,
		pvinterceptor.UnaryServerInterceptor(c.validator),
		c.unaryTranslate,
	}
}

// unaryNames name the stages of unary(), in order (benchmarks).
func (c *chain) unaryNames() []string {
	return []string{"recovery", "metrics", "request-id", "logging", "caller", "auth", "update-mask", "validation", "translate"}
}

func (c *chain) stream() []grpc.StreamServerInterceptor {
	return []grpc.StreamServerInterceptor{
		recovery.StreamServerInterceptor(recovery.WithRecoveryHandlerContext(c.recovered)),
		c.metrics.stream,
		c.streamRequestID,
		c.streamLogging,
		c.streamCaller,
		c.streamAuth,
		pvinterceptor.StreamServerInterceptor(c.validator),
		c.streamTranslate,
	}
}

func (c *chain) recovered(ctx context.Context, p any) error {
	c.log.Error("panic in handler", append(logging.Fields(ctx), zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))...)
	return status.Error(codes.Internal, "internal error")
}

// withRequestID takes the caller's request id (or makes one) and keeps it
// in the context, where runtime/client finds it for outgoing calls and the
// log lines find it. An id the server made is echoed in the response header
// (a caller that sent one knows it).
func withRequestID(ctx context.Context) context.Context {
	// ValueFromIncomingContext copies one key's values, not the whole
	// metadata as FromIncomingContext does.
	if v := metadata.ValueFromIncomingContext(ctx, RequestIDKey); len(v) > 0 && validRequestID(v[0]) {
		return logging.WithRequestID(ctx, v[0])
	}
	id := NewRequestID()
	_ = grpc.SetHeader(ctx, metadata.MD{RequestIDKey: []string{id}})
	return logging.WithRequestID(ctx, id)
}

// validRequestID accepts short printable ids only, so that a caller cannot
// inject log lines or oversized values.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// Request ids are a random per-process prefix and a counter: unique
// without a system call or a lock per call.
var (
	requestIDPrefix [8]byte
	requestIDSeq    atomic.Uint64
)

func init() {
	_, _ = rand.Read(requestIDPrefix[:])
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	requestIDSeq.Store(binary.BigEndian.Uint64(seed[:]))
}

// NewRequestID returns a new 32-hex-digit id.
func NewRequestID() string {
	var b [16]byte
	copy(b[:8], requestIDPrefix[:])
	binary.BigEndian.PutUint64(b[8:], requestIDSeq.Add(1))
	return hex.EncodeToString(b[:])
}

func (c *chain) unaryRequestID(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	return h(withRequestID(ctx), req)
}

func (c *chain) streamRequestID(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, &wrappedStream{ServerStream: ss, ctx: withRequestID(ss.Context())})
}

// logCall writes the call's one line: errors and calls slower than the
// threshold at info (internal ones at error), other successes and
// infrastructure calls (health probes, reflection) at debug. Nothing is
// built for a line the level drops (issue 14).
func (c *chain) logCall(ctx context.Context, method string, start time.Time, req any, err error) {
	elapsed := time.Since(start)
	code := status.Code(err)
	lvl := zap.DebugLevel
	switch {
	case code == codes.Internal || code == codes.Unknown || code == codes.DataLoss:
		lvl = zap.ErrorLevel
	case isInfrastructure(method):
	case err != nil || elapsed >= c.slow:
		lvl = zap.InfoLevel
	}
	ce := c.log.Check(lvl, "rpc")
	if ce == nil {
		return
	}
	fields := append(logging.Fields(ctx),
		zap.String("method", method),
		zap.String("code", code.String()),
		zap.Duration("duration", elapsed),
	)
	if p, ok := peer.FromContext(ctx); ok {
		fields = append(fields, zap.Stringer("peer", p.Addr))
	}
	if m, ok := req.(proto.Message); ok && c.log.Core().Enabled(zap.DebugLevel) {
		fields = append(fields, zap.Any("request", Redact(m)))
	}
	ce.Write(fields...)
}

func (c *chain) unaryLogging(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := h(ctx, req)
	c.logCall(ctx, info.FullMethod, start, req, err)
	return resp, err
}

func (c *chain) streamLogging(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	start := time.Now()
	err := h(srv, ss)
	c.logCall(ss.Context(), info.FullMethod, start, nil, err)
	return err
}

func (c *chain) unaryCaller(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := c.callers.check(ctx, info.FullMethod); err != nil {
		return nil, c.refused(ctx, info.FullMethod, err)
	}
	return h(ctx, req)
}

func (c *chain) streamCaller(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := c.callers.check(ss.Context(), info.FullMethod); err != nil {
		return c.refused(ss.Context(), info.FullMethod, err)
	}
	return h(srv, ss)
}

// refused logs an internal call the caller table refused, at warn: a
// misconfigured service or someone trying, either worth a look.
func (c *chain) refused(ctx context.Context, method string, err error) error {
	caller, _ := ServiceIdentity(ctx)
	fields := append(logging.Fields(ctx), zap.String("method", method), zap.String("calling_service", caller), zap.Error(err))
	if p, ok := peer.FromContext(ctx); ok {
		fields = append(fields, zap.Stringer("peer", p.Addr))
	}
	c.log.Warn("internal call refused", fields...)
	return c.translate(ctx, err)
}

func (c *chain) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if c.auth == nil || isInfrastructure(info.FullMethod) {
		return h(ctx, req)
	}
	ctx, err := c.auth.Authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, c.translate(ctx, err)
	}
	return h(ctx, req)
}

func (c *chain) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if c.auth == nil || isInfrastructure(info.FullMethod) {
		return h(srv, ss)
	}
	ctx, err := c.auth.Authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return c.translate(ss.Context(), err)
	}
	return h(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
}

// isInfrastructure names the methods every caller may use unauthenticated:
// health checks and reflection.
func isInfrastructure(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(method, "/grpc.reflection.")
}

func (c *chain) translate(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	st, unknown := errs.ToStatus(err)
	if unknown || st.Code() == codes.Internal || st.Code() == codes.Unknown {
		if code, ok := endedByCaller(ctx, err); ok {
			// The caller cancelled or its deadline (e.g. a client-set
			// Grpc-Timeout) passed: not a fault of the service, whatever
			// the handler wrapped the context's error in (issue 7 point 9).
			c.log.Debug("call ended by its caller", append(logging.Fields(ctx), zap.Error(err))...)
			return status.Error(code, code.String())
		}
		c.log.Error("internal error", append(logging.Fields(ctx), zap.Error(err))...)
	}
	return st.Err()
}

// endedByCaller tells whether a failed call ended because its context did
// (cancelled, or past its deadline), and the code that says so.
func endedByCaller(ctx context.Context, err error) (codes.Code, bool) {
	cause := ctx.Err()
	if cause == nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			cause = context.DeadlineExceeded
		case errors.Is(err, context.Canceled):
			cause = context.Canceled
		default:
			return codes.OK, false
		}
	}
	if errors.Is(cause, context.DeadlineExceeded) {
		return codes.DeadlineExceeded, true
	}
	return codes.Canceled, true
}

func (c *chain) unaryTranslate(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	if err != nil {
		return nil, c.translate(ctx, err)
	}
	return resp, nil
}

func (c *chain) streamTranslate(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return c.translate(ss.Context(), h(srv, ss))
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

// sensitiveFields are field names whose values never reach a log.
var sensitiveFields = map[protoreflect.Name]bool{
	"password": true, "new_password": true, "current_password": true, "old_password": true,
	"token": true, "access_token": true, "refresh_token": true, "secret": true,
	"totp_code": true, "code": true, "smtp_password": true, "otpauth_url": true,
}

// Redact returns a copy of m with every sensitive field (at any depth)
// replaced by "[REDACTED]" (strings) or cleared (other kinds).
func Redact(m proto.Message) proto.Message {
	c := proto.Clone(m)
	redact(c.ProtoReflect())
	return c
}

func redact(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case sensitiveFields[fd.Name()]:
			if fd.Kind() == protoreflect.StringKind && !fd.IsList() && !fd.IsMap() {
				m.Set(fd, protoreflect.ValueOfString("[REDACTED]"))
			} else {
				m.Clear(fd)
			}
		case fd.Kind() == protoreflect.BytesKind && !fd.IsList():
			// Uploaded content is large and private: keep only its length.
			m.Set(fd, protoreflect.ValueOfBytes([]byte("["+strconv.Itoa(len(v.Bytes()))+" bytes]")))
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap() && isFreeForm(fd.Message().FullName()):
			// Free-form data (e.g. an e-mail's link with its token) has no
			// field names to judge by: keep the keys, hide every value.
			m.Set(fd, protoreflect.ValueOfMessage(redactFreeForm(v.Message().Interface()).ProtoReflect()))
		case fd.Message() != nil && fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				redact(l.Get(i).Message())
			}
		case fd.Message() != nil && fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					redact(mv.Message())
					return true
				})
			}
		case fd.Message() != nil:
			redact(v.Message())
		}
		return true
	})
}

func isFreeForm(name protoreflect.FullName) bool {
	return name == "google.protobuf.Struct" || name == "google.protobuf.Value" || name == "google.protobuf.ListValue"
}

func redactFreeForm(m proto.Message) proto.Message {
	hidden := structpb.NewStringValue("[REDACTED]")
	switch v := m.(type) {
	case *structpb.Struct:
		out := &structpb.Struct{Fields: map[string]*structpb.Value{}}
		for k := range v.GetFields() {
			out.Fields[k] = hidden
		}
		return out
	case *structpb.ListValue:
		return &structpb.ListValue{}
	default:
		return hidden
	}
}
