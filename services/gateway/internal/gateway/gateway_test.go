package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/server/servertest"
	"github.com/vigil/vigil/services/runtime/telemetry"
)

// fakeVault records what the gateway streams to it.
type fakeVault struct {
	vaultv1.UnimplementedDocumentServiceServer
	meta      *vaultv1.UploadDocumentMetadata
	received  []byte
	chunks    int
	maxChunk  int
	auth      string
	requestID string
}

func (f *fakeVault) UploadDocument(stream grpc.ClientStreamingServer[vaultv1.UploadDocumentRequest, vaultv1.Document]) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	f.auth = strings.Join(md.Get("authorization"), ",")
	f.requestID = strings.Join(md.Get("x-request-id"), ",")
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if m := msg.GetMetadata(); m != nil {
			f.meta = m
			continue
		}
		f.chunks++
		f.maxChunk = max(f.maxChunk, len(msg.GetChunk()))
		f.received = append(f.received, msg.GetChunk()...)
		if len(f.received) > 8<<20 {
			return status.Error(codes.InvalidArgument, "file: larger than 8 MiB")
		}
	}
	return stream.SendAndClose(&vaultv1.Document{Name: f.meta.GetParent() + "/documents/d1", FileName: f.meta.GetFileName(), SizeBytes: int64(len(f.received))})
}

func (f *fakeVault) DownloadDocument(req *vaultv1.DownloadDocumentRequest, stream grpc.ServerStreamingServer[vaultv1.DownloadDocumentResponse]) error {
	if req.GetName() != "companies/c1/documents/d1" {
		return status.Error(codes.NotFound, "document not found")
	}
	info := &vaultv1.DocumentContentInfo{ContentType: "application/pdf", FileName: "kbis été.pdf", SizeBytes: 8, Sha256: "abc"}
	if err := stream.Send(&vaultv1.DownloadDocumentResponse{Payload: &vaultv1.DownloadDocumentResponse_Metadata{Metadata: info}}); err != nil {
		return err
	}
	for _, part := range []string{"%PDF", "-1.7"} {
		if err := stream.Send(&vaultv1.DownloadDocumentResponse{Payload: &vaultv1.DownloadDocumentResponse_Chunk{Chunk: []byte(part)}}); err != nil {
			return err
		}
	}
	return nil
}

// fakeIdentity answers the identity routes the edge tests need and records
// the metadata of the last call.
type fakeIdentity struct {
	identityv1.UnimplementedIdentityServiceServer
	mu       sync.Mutex
	md       metadata.MD
	loginErr error
	me       *identityv1.User
}

func (f *fakeIdentity) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.md = md
	f.mu.Unlock()
}

// lastMetadata is the metadata of the last call.
func (f *fakeIdentity) lastMetadata() metadata.MD {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.md
}

func (f *fakeIdentity) Login(ctx context.Context, _ *identityv1.LoginRequest) (*identityv1.LoginResponse, error) {
	f.record(ctx)
	f.mu.Lock()
	err := f.loginErr
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &identityv1.LoginResponse{AccessToken: "access", RefreshToken: "refresh", ExpiresIn: 900}, nil
}

func (f *fakeIdentity) SignUp(ctx context.Context, req *identityv1.SignUpRequest) (*identityv1.SignUpResponse, error) {
	f.record(ctx)
	return &identityv1.SignUpResponse{AccessToken: "access", User: &identityv1.User{Email: req.GetAdmin().GetEmail()}}, nil
}

func (f *fakeIdentity) GetMe(ctx context.Context, _ *identityv1.GetMeRequest) (*identityv1.User, error) {
	f.record(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	return proto.Clone(f.me).(*identityv1.User), nil
}

func (f *fakeIdentity) GetUser(ctx context.Context, req *identityv1.GetUserRequest) (*identityv1.User, error) {
	f.record(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.GetName() != f.me.GetName() {
		return nil, status.Error(codes.NotFound, "user not found")
	}
	return proto.Clone(f.me).(*identityv1.User), nil
}

func (f *fakeIdentity) GetJwks(ctx context.Context, _ *identityv1.GetJwksRequest) (*identityv1.GetJwksResponse, error) {
	f.record(ctx)
	return &identityv1.GetJwksResponse{Keys: []*identityv1.Jwk{{Kty: "OKP", Crv: "Ed25519", X: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", Kid: "k1", Alg: "EdDSA", Use: "sig"}}}, nil
}

// fakeTypes answers ListDocumentTypes, whose query has enum filters.
type fakeTypes struct {
	vaultv1.UnimplementedDocumentTypeServiceServer
}

func (fakeTypes) ListDocumentTypes(context.Context, *vaultv1.ListDocumentTypesRequest) (*vaultv1.ListDocumentTypesResponse, error) {
	return &vaultv1.ListDocumentTypesResponse{}, nil
}

var tracerOnce sync.Once

// installTestTracer installs, once, what telemetry.Setup installs with an
// endpoint, minus the exporter: a sampling SDK tracer provider and the W3C
// propagators.
func installTestTracer() {
	tracerOnce.Do(func() {
		otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample())))
		otel.SetTextMapPropagator(telemetry.Propagator())
	})
}

// testGateway is the gateway's HTTP handler over one bufconn server that
// plays every upstream: a fake vault, a fake identity, and a controllable
// health.
type testGateway struct {
	*httptest.Server
	vault    *fakeVault
	identity *fakeIdentity
	health   *health.Server
	logs     *observer.ObservedLogs
	edge     *edge
}

// newTestGateway serves the gateway over httptest; opts adjust the
// configuration (the default bounds JSON bodies to 1 KiB) or the upstream
// gRPC server.
func newTestGateway(t testing.TB, opts ...func(*Config, *[]grpc.ServerOption)) *testGateway {
	t.Helper()
	cfg := &Config{MaxBodyBytes: 1 << 10, ReadyTimeout: time.Second, AccessLog: true, UploadTimeout: time.Minute}
	// Tracing on (an endpoint enables it), spans kept in memory: see
	// installTestTracer.
	cfg.OTLPEndpoint = "127.0.0.1:4317"
	installTestTracer()
	var serverOpts []grpc.ServerOption
	for _, o := range opts {
		o(cfg, &serverOpts)
	}
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(serverOpts...)
	fv := &fakeVault{}
	vaultv1.RegisterDocumentServiceServer(gs, fv)
	vaultv1.RegisterDocumentTypeServiceServer(gs, fakeTypes{})
	fi := &fakeIdentity{me: &identityv1.User{Name: "companies/c1/users/u1", Email: "ada@acme.test", GivenName: "Ada"}}
	identityv1.RegisterIdentityServiceServer(gs, fi)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)

	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	conn := servertest.Dial(t, lis, telemetry.DialOptions(&cfg.Common)...)
	var ups []upstream
	for _, name := range []string{"identity", "directory", "vault", "notify"} {
		ups = append(ups, upstream{name: name, conn: conn})
	}
	e, err := newEdge(context.Background(), cfg, log, ups)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.public)
	t.Cleanup(srv.Close)
	return &testGateway{Server: srv, vault: fv, identity: fi, health: hs, logs: logs, edge: e}
}

func decode(t *testing.T, r *http.Response) map[string]any {
	t.Helper()
	defer r.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReadyzNamesWhatIsNotServing(t *testing.T) {
	g := newTestGateway(t)
	srv, hs := g.Server, g.health
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("all SERVING: %d", resp.StatusCode)
	}
	resp.Body.Close()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	resp, _ = http.Get(srv.URL + "/readyz")
	body := decode(t, resp)
	if resp.StatusCode != 503 || len(body["notServing"].([]any)) != 4 {
		t.Fatalf("NOT_SERVING: %d %v", resp.StatusCode, body)
	}
}

func TestBodyLimitAndErrorShape(t *testing.T) {
	srv := newTestGateway(t).Server
	big := `{"email":"` + strings.Repeat("x", 2<<10) + `"}`
	resp, err := http.Post(srv.URL+"/v1/auth:login", "application/json", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversize: %d", resp.StatusCode)
	}
	resp.Body.Close()
	// Chunked (no Content-Length) bodies are bounded too.
	req, _ := http.NewRequest("POST", srv.URL+"/v1/auth:login", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	resp, _ = http.DefaultClient.Do(req)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversize chunked: %d", resp.StatusCode)
	}
	resp.Body.Close()
	// The fake upstream has no company service: Unimplemented → 501, in §4's shape.
	resp, _ = http.Get(srv.URL + "/v1/companies/c1")
	body := decode(t, resp)
	if resp.StatusCode != 501 || body["code"] != float64(12) || body["details"] == nil {
		t.Fatalf("error shape: %d %v", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Fatal("every answer carries a request id")
	}
}

// TestUploadStreamsInChunks: R-VAULT-4 — the gateway forwards the file in
// bounded chunks with the caller's credentials, never buffering it whole.
func TestUploadStreamsInChunks(t *testing.T) {
	g := newTestGateway(t)
	srv, fv := g.Server, g.vault
	file := bytes.Repeat([]byte("0123456789abcdef"), 200_000) // 3 200 000 bytes: more than 3 chunks
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mp, _ := mw.CreateFormField("metadata")
	mp.Write([]byte(`{"documentType":"documentTypes/KBIS","subject":"companies/c1","validFrom":"2026-01-01"}`))
	fp, _ := mw.CreateFormFile("file", "kbis.pdf")
	fp.Write(file)
	mw.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/v1/companies/c1/documents", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("X-Request-Id", "req-9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	doc := decode(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("upload: %d %v", resp.StatusCode, doc)
	}
	if !bytes.Equal(fv.received, file) || fv.maxChunk > uploadChunkSize || fv.chunks < 3 {
		t.Fatalf("received %d bytes in %d chunks (max %d)", len(fv.received), fv.chunks, fv.maxChunk)
	}
	if fv.meta.GetParent() != "companies/c1" || fv.meta.GetFileName() != "kbis.pdf" {
		t.Fatalf("metadata %v", fv.meta)
	}
	if fv.auth != "Bearer tok" || fv.requestID != "req-9" {
		t.Fatalf("forwarded authorization %q request id %q", fv.auth, fv.requestID)
	}
	if doc["sizeBytes"] != "3200000" {
		t.Fatalf("document %v", doc)
	}

	// A body without a metadata part is refused with 400 naming it.
	req, _ = http.NewRequest("POST", srv.URL+"/v1/companies/c1/documents", strings.NewReader("x"))
	req.Header.Set("Content-Type", "text/plain")
	resp, _ = http.DefaultClient.Do(req)
	if b := decode(t, resp); resp.StatusCode != 400 || !strings.Contains(b["message"].(string), "metadata") {
		t.Fatalf("not multipart: %d %v", resp.StatusCode, b)
	}
}

func TestDownloadSetsHeadersAndStreams(t *testing.T) {
	srv := newTestGateway(t).Server
	resp, err := http.Get(srv.URL + "/v1/companies/c1/documents/d1/content")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "%PDF-1.7" {
		t.Fatalf("download: %d %q", resp.StatusCode, b)
	}
	if resp.Header.Get("Content-Type") != "application/pdf" || resp.Header.Get("X-Content-Sha256") != "abc" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("headers %v", resp.Header)
	}
	resp, _ = http.Get(srv.URL + "/v1/companies/c1/documents/nope/content")
	if resp.StatusCode != 404 {
		t.Fatalf("missing document: %d", resp.StatusCode)
	}
	resp.Body.Close()
}
