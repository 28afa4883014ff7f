package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/structpb"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/server/servertest"
)

// fakeNotify answers according to the idempotency key, so that one RPC can
// exercise every path of the chain.
type fakeNotify struct {
	notifyv1.UnimplementedNotificationInternalServiceServer
	mu   sync.Mutex
	seen string // the request id the handler last saw
}

func (f *fakeNotify) seenRequestID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen
}

func (f *fakeNotify) EnqueueNotification(ctx context.Context, req *notifyv1.EnqueueNotificationRequest) (*notifyv1.EnqueueNotificationResponse, error) {
	f.mu.Lock()
	f.seen = RequestID(ctx)
	f.mu.Unlock()
	switch req.GetIdempotencyKey() {
	case "panic":
		panic("boom")
	case "not-found":
		return nil, errs.NotFound("NO_SUCH_THING", "thing not found")
	case "bad-field":
		return nil, errs.InvalidArgument("recipients", "too many")
	case "wrapped":
		return nil, errors.Join(errors.New("context"), errs.FailedPrecondition("LAST_ADMINISTRATOR", "last administrator"))
	case "unknown":
		return nil, errors.New("disk on fire at /var/secret")
	case "wait":
		// A handler that wraps its context's error as an internal one.
		<-ctx.Done()
		return nil, errs.Internal(fmt.Errorf("reading the outbox: %w", ctx.Err()))
	}
	return &notifyv1.EnqueueNotificationResponse{Id: "n1"}, nil
}

type denyAll struct{}

func (denyAll) Authenticate(ctx context.Context, method string) (context.Context, error) {
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get("authorization")) > 0 {
		return ctx, nil
	}
	return ctx, errs.Unauthenticated("MISSING_TOKEN", "missing token")
}

type harness struct {
	srv    *Server
	lis    *bufconn.Listener
	conn   *grpc.ClientConn
	fake   *fakeNotify
	logs   *observer.ObservedLogs
	cancel context.CancelFunc
	done   chan error
	closed []string
}

func start(t *testing.T, auth Authenticator) *harness {
	t.Helper()
	return startWith(t, auth, &config.Common{Service: "notify", ShutdownTimeout: 2 * time.Second}, zap.DebugLevel)
}

func startWith(t *testing.T, auth Authenticator, cfg *config.Common, level zapcore.Level) *harness {
	t.Helper()
	core, logs := observer.New(level)
	lis := bufconn.Listen(1 << 20)
	srv, err := New(cfg, zap.New(core), Options{Listener: lis, Auth: auth,
		ServiceNames: []string{notifyv1.NotificationInternalService_ServiceDesc.ServiceName}})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{srv: srv, lis: lis, fake: &fakeNotify{}, logs: logs, done: make(chan error, 1)}
	notifyv1.RegisterNotificationInternalServiceServer(srv.GRPC(), h.fake)
	srv.OnClose(func() error { h.closed = append(h.closed, "db"); return nil })
	srv.OnClose(func() error { h.closed = append(h.closed, "cache"); return nil })
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- srv.Run(ctx) }()
	h.conn = servertest.Dial(t, lis)
	t.Cleanup(func() {
		cancel()
		<-h.done
	})
	return h
}

func validRequest(key string) *notifyv1.EnqueueNotificationRequest {
	return &notifyv1.EnqueueNotificationRequest{
		IdempotencyKey: key,
		Template:       notifyv1.Template_TEMPLATE_PASSWORD_RESET,
		Recipients:     []*notifyv1.Recipient{{Email: "a@example.com"}},
	}
}

func TestHealthTurnsServingWhenMarked(t *testing.T) {
	h := start(t, nil)
	hc := healthpb.NewHealthClient(h.conn)
	for _, name := range []string{"", notifyv1.NotificationInternalService_ServiceDesc.ServiceName} {
		resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: name})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Fatalf("%q before MarkServing: %v %v, want NOT_SERVING", name, resp.GetStatus(), err)
		}
	}
	h.srv.MarkServing()
	resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: notifyv1.NotificationInternalService_ServiceDesc.ServiceName})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("after MarkServing: %v %v", resp.GetStatus(), err)
	}
}

// TestChain: each stage of the interceptor chain does its job, in order.
func TestChain(t *testing.T) {
	h := start(t, nil)
	c := notifyv1.NewNotificationInternalServiceClient(h.conn)
	cases := []struct {
		name   string
		req    *notifyv1.EnqueueNotificationRequest
		code   codes.Code
		reason string
		field  string
	}{
		{"ok", validRequest("ok"), codes.OK, "", ""},
		{"panic becomes Internal", validRequest("panic"), codes.Internal, "", ""},
		{"typed error keeps its code and reason", validRequest("not-found"), codes.NotFound, "NO_SUCH_THING", ""},
		{"field violation names the field", validRequest("bad-field"), codes.InvalidArgument, "INVALID_ARGUMENT", "recipients"},
		{"wrapped typed error is found", validRequest("wrapped"), codes.FailedPrecondition, "LAST_ADMINISTRATOR", ""},
		{"unknown error becomes Internal", validRequest("unknown"), codes.Internal, "", ""},
		{"protovalidate refuses before the handler", &notifyv1.EnqueueNotificationRequest{IdempotencyKey: "x"}, codes.InvalidArgument, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.EnqueueNotification(context.Background(), tc.req)
			st := status.Convert(err)
			if st.Code() != tc.code {
				t.Fatalf("code %v (%v), want %v", st.Code(), err, tc.code)
			}
			if tc.code == codes.Internal && st.Message() != "internal error" {
				t.Fatalf("Internal leaks detail: %q", st.Message())
			}
			var reason, field string
			for _, d := range st.Details() {
				switch d := d.(type) {
				case *errdetails.ErrorInfo:
					reason = d.GetReason()
				case *errdetails.BadRequest:
					field = d.GetFieldViolations()[0].GetField()
				}
			}
			if reason != tc.reason || field != tc.field {
				t.Fatalf("reason %q field %q, want %q %q", reason, field, tc.reason, tc.field)
			}
		})
	}
	if n := h.logs.FilterMessage("internal error").FilterField(zap.Error(errors.New("disk on fire at /var/secret"))).Len(); n != 1 {
		t.Errorf("the unknown error's detail must be logged once, got %d", n)
	}
}

func TestRequestIDPropagates(t *testing.T) {
	h := start(t, nil)
	c := notifyv1.NewNotificationInternalServiceClient(h.conn)
	var header metadata.MD
	ctx := metadata.AppendToOutgoingContext(context.Background(), RequestIDKey, "req-123")
	if _, err := c.EnqueueNotification(ctx, validRequest("ok"), grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	if h.fake.seenRequestID() != "req-123" {
		t.Fatalf("handler saw %q; want req-123", h.fake.seenRequestID())
	}
	ctx = metadata.AppendToOutgoingContext(context.Background(), RequestIDKey, "bad id")
	if _, err := c.EnqueueNotification(ctx, validRequest("ok"), grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	if id := h.fake.seenRequestID(); id == "bad id" || len(id) != 32 || header.Get(RequestIDKey)[0] != id {
		t.Fatalf("an unsafe request id must be replaced and the new one echoed, got %q, header %v", id, header)
	}
	prev := h.fake.seenRequestID()
	if _, err := c.EnqueueNotification(context.Background(), validRequest("ok")); err != nil {
		t.Fatal(err)
	}
	if id := h.fake.seenRequestID(); id == prev || len(id) != 32 {
		t.Fatalf("each call without an id gets a new one: %q after %q", id, prev)
	}
}

func TestAuthRunsBeforeValidationAndHandler(t *testing.T) {
	h := start(t, denyAll{})
	c := notifyv1.NewNotificationInternalServiceClient(h.conn)
	_, err := c.EnqueueNotification(context.Background(), &notifyv1.EnqueueNotificationRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("got %v, want Unauthenticated before validation", err)
	}
	if h.fake.seenRequestID() != "" {
		t.Fatal("the handler ran for an unauthenticated call")
	}
	// Health stays open to probes without credentials.
	if _, err := healthpb.NewHealthClient(h.conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health needs no token: %v", err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer x")
	if _, err := c.EnqueueNotification(ctx, validRequest("ok")); err != nil {
		t.Fatal(err)
	}
}

// TestLogsRedactSecrets: at debug level requests are logged, and no secret
// reaches the log — neither a named field (password, token, code) nor a
// token inside free-form data such as an e-mail's link.
func TestLogsRedactSecrets(t *testing.T) {
	h := start(t, nil)
	c := notifyv1.NewNotificationInternalServiceClient(h.conn)
	req := validRequest("ok")
	req.Data, _ = structpb.NewStruct(map[string]any{"link": "https://vigil.test/reset-password?token=SECRET123"})
	if _, err := c.EnqueueNotification(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	logged := h.logs.FilterMessage("rpc").All()
	if len(logged) == 0 {
		t.Fatal("no rpc log line")
	}
	for _, e := range logged {
		for k, v := range e.ContextMap() {
			if strings.Contains(fmt.Sprint(v), "SECRET123") {
				t.Fatalf("log field %s carries the token: %v", k, v)
			}
		}
	}
	login := Redact(&identityv1.LoginRequest{Email: "a@b.c", Password: "hunter2hunter2", TotpCode: "123456"}).(*identityv1.LoginRequest)
	if login.GetPassword() != "[REDACTED]" || login.GetTotpCode() != "[REDACTED]" || login.GetEmail() != "a@b.c" {
		t.Fatalf("redacted login request: %v", login)
	}
	m := Redact(&notifyv1.RetryDeadLetterRequest{Name: "deadLetters/x"})
	if m.(*notifyv1.RetryDeadLetterRequest).GetName() != "deadLetters/x" {
		t.Fatal("non-secret fields must survive redaction")
	}
}

// TestShutdownOrder: cancelling Run stops serving (health answers no more),
// then runs the closers last-registered first.
func TestShutdownOrder(t *testing.T) {
	h := start(t, nil)
	h.srv.MarkServing()
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	h.done <- nil // for Cleanup
	if got := h.closed; len(got) != 2 || got[0] != "cache" || got[1] != "db" {
		t.Fatalf("closers ran as %v, want [cache db]", got)
	}
}

func TestPlaintextOnlyOnLoopback(t *testing.T) {
	cfg := &config.Common{Service: "notify", NotifyAddr: "0.0.0.0:7104"}
	if _, err := New(cfg, zap.NewNop(), Options{}); err == nil {
		t.Fatal("listening beyond loopback without TLS must be refused")
	}
	cfg.NotifyAddr = "127.0.0.1:7104"
	if _, err := New(cfg, zap.NewNop(), Options{}); err != nil {
		t.Fatalf("loopback plaintext: %v", err)
	}
}

// TestCallerDeadlineIsNotAnInternalError (issue 7 point 9): a call whose
// client-set deadline (Grpc-Timeout) passes, or that its caller cancels,
// ends as DEADLINE_EXCEEDED or CANCELLED in the log, never as an internal
// error, even when the handler wrapped the context's error as one.
func TestCallerDeadlineIsNotAnInternalError(t *testing.T) {
	h := start(t, nil)
	c := notifyv1.NewNotificationInternalServiceClient(h.conn)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.EnqueueNotification(ctx, validRequest("wait")); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("got %v, want DEADLINE_EXCEEDED", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := c.EnqueueNotification(ctx, validRequest("wait")); status.Code(err) != codes.Canceled {
		t.Fatalf("got %v, want CANCELLED", err)
	}
	// The server sees whichever comes first, its own deadline or the
	// client's cancellation at the same instant: either code is right.
	ended := func() int {
		n := 0
		for _, e := range h.logs.FilterMessage("rpc").All() {
			if code := e.ContextMap()["code"]; code == codes.DeadlineExceeded.String() || code == codes.Canceled.String() {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(2 * time.Second); ended() < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := ended(); n != 2 {
		t.Errorf("%d rpc lines with DEADLINE_EXCEEDED or CANCELLED, want 2: %v", n, h.logs.FilterMessage("rpc").All())
	}
	if n := h.logs.FilterLevelExact(zap.ErrorLevel).Len(); n != 0 {
		t.Fatalf("%d error lines for calls the caller ended: %v", n, h.logs.FilterLevelExact(zap.ErrorLevel).All())
	}
}

// TestCallLogLevels (issue 14): at info, a quick successful call writes
// nothing; an error, and a call slower than the threshold, write their one
// line; at debug every call is logged.
func TestCallLogLevels(t *testing.T) {
	for _, tc := range []struct {
		name      string
		slow      time.Duration
		level     zapcore.Level
		key       string
		wantLines int
	}{
		{"quick success at info", time.Hour, zap.InfoLevel, "ok", 0},
		{"error at info", time.Hour, zap.InfoLevel, "not-found", 1},
		{"slow success at info", time.Nanosecond, zap.InfoLevel, "ok", 1},
		{"quick success at debug", time.Hour, zap.DebugLevel, "ok", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startWith(t, nil, &config.Common{Service: "notify", ShutdownTimeout: 2 * time.Second, SlowCallThreshold: tc.slow}, tc.level)
			_, _ = notifyv1.NewNotificationInternalServiceClient(h.conn).EnqueueNotification(context.Background(), validRequest(tc.key))
			if n := h.logs.FilterMessage("rpc").Len(); n != tc.wantLines {
				t.Fatalf("%d rpc lines, want %d: %v", n, tc.wantLines, h.logs.All())
			}
		})
	}
}

// TestMetricsPerMethod: the per-method series keep the names dashboards
// use, count each call once under its final code, and time it.
func TestMetricsPerMethod(t *testing.T) {
	h := start(t, nil)
	c := notifyv1.NewNotificationInternalServiceClient(h.conn)
	_, _ = c.EnqueueNotification(context.Background(), validRequest("ok"))
	_, _ = c.EnqueueNotification(context.Background(), validRequest("ok"))
	_, _ = c.EnqueueNotification(context.Background(), validRequest("not-found"))
	families, err := h.srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["grpc_method"] != "EnqueueNotification" || labels["grpc_service"] != "vigil.notify.v1.NotificationInternalService" || labels["grpc_type"] != "unary" {
				continue
			}
			key := f.GetName()
			if code := labels["grpc_code"]; code != "" {
				key += "/" + code
			}
			switch {
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				got[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"grpc_server_started_total": 3, "grpc_server_handled_total/OK": 2, "grpc_server_handled_total/NotFound": 1,
		"grpc_server_handled_total/Internal": 0, "grpc_server_msg_received_total": 3, "grpc_server_msg_sent_total": 2,
		"grpc_server_handling_seconds": 3,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

// countingCodec is the proto codec, counting what it decodes.
type countingCodec struct{ decoded *atomic.Int64 }

func (countingCodec) Name() string { return "proto" }
func (countingCodec) Marshal(v any) (mem.BufferSlice, error) {
	return encoding.GetCodecV2("proto").Marshal(v)
}
func (c countingCodec) Unmarshal(data mem.BufferSlice, v any) error {
	c.decoded.Add(1)
	return encoding.GetCodecV2("proto").Unmarshal(data, v)
}

// TestMoreGRPCOptions: Options.GRPC reach the gRPC server (the vault sets
// its codec and buffers there).
func TestMoreGRPCOptions(t *testing.T) {
	var decoded atomic.Int64
	lis := bufconn.Listen(1 << 20)
	srv, err := New(&config.Common{Service: "notify", ShutdownTimeout: time.Second}, zap.NewNop(),
		Options{Listener: lis, GRPC: []grpc.ServerOption{grpc.ForceServerCodecV2(countingCodec{&decoded})}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if _, err := healthpb.NewHealthClient(servertest.Dial(t, lis)).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if decoded.Load() != 1 {
		t.Fatalf("the codec decoded %d messages, want 1", decoded.Load())
	}
}
