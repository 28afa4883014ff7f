package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/vigil/vigil/services/runtime/server/servertest"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/config"
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
		if len(f.received) > 1<<20 {
			return status.Error(codes.InvalidArgument, "file: larger than 1 MiB")
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

// newTestGateway serves the gateway over httptest with every upstream on
// one bufconn server that has a fake vault and a controllable health.
func newTestGateway(t *testing.T) (*httptest.Server, *fakeVault, *health.Server) {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	fv := &fakeVault{}
	vaultv1.RegisterDocumentServiceServer(gs, fv)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn := servertest.Dial(t, lis)
	var ups []upstream
	for _, name := range []string{"identity", "directory", "vault", "notify"} {
		ups = append(ups, upstream{name: name, conn: conn})
	}
	cfg := &Config{Common: config.Common{}, MaxBodyBytes: 1 << 10, ReadyTimeout: time.Second}
	h, err := NewHandler(context.Background(), cfg, zap.NewNop(), ups)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, fv, hs
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
	srv, _, hs := newTestGateway(t)
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
	srv, _, _ := newTestGateway(t)
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
	// The fake upstream has no identity service: Unimplemented → 501, in §4's shape.
	resp, _ = http.Post(srv.URL+"/v1/auth:login", "application/json", strings.NewReader(`{"email":"a@b.c","password":"p"}`))
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
	srv, fv, _ := newTestGateway(t)
	file := bytes.Repeat([]byte("0123456789abcdef"), 40_000) // 640 000 bytes
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
	if doc["sizeBytes"] != "640000" {
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
	srv, _, _ := newTestGateway(t)
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
