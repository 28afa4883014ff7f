package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/server/servertest"
)

// fileVault plays the vault for the file routes: it commits an upload only
// when the stream ends normally, refuses one past limit bytes as the vault
// does, and serves one document with ranges and ETags.
type fileVault struct {
	vaultv1.UnimplementedDocumentServiceServer
	vaultv1.UnimplementedComplianceServiceServer
	limit int

	mu        sync.Mutex
	committed [][]byte
	aborted   int
	lastReq   *vaultv1.DownloadDocumentRequest
	meta      *vaultv1.UploadDocumentMetadata
}

var fileBytes = []byte("%PDF-1.7 0123456789 %%EOF")

func tooLarge() error {
	st, _ := status.New(codes.InvalidArgument, "file: larger than allowed").WithDetails(&errdetails.ErrorInfo{Reason: "DOCUMENT_TOO_LARGE", Domain: "vigil"})
	return st.Err()
}

func (f *fileVault) UploadDocument(stream grpc.ClientStreamingServer[vaultv1.UploadDocumentRequest, vaultv1.Document]) error {
	var got []byte
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.mu.Lock()
			f.aborted++
			f.mu.Unlock()
			return err
		}
		if m := msg.GetMetadata(); m != nil {
			f.mu.Lock()
			f.meta = m
			f.mu.Unlock()
			continue
		}
		got = append(got, msg.GetChunk()...)
		if f.limit > 0 && len(got) > f.limit {
			f.mu.Lock()
			f.aborted++
			f.mu.Unlock()
			return tooLarge()
		}
	}
	f.mu.Lock()
	f.committed = append(f.committed, got)
	f.mu.Unlock()
	return stream.SendAndClose(&vaultv1.Document{Name: "companies/c1/documents/d1", SizeBytes: int64(len(got))})
}

func (f *fileVault) DownloadDocument(req *vaultv1.DownloadDocumentRequest, stream grpc.ServerStreamingServer[vaultv1.DownloadDocumentResponse]) error {
	f.mu.Lock()
	f.lastReq = req
	f.mu.Unlock()
	size := int64(len(fileBytes))
	info := &vaultv1.DocumentContentInfo{Document: req.GetName(), ContentType: "application/pdf", FileName: `Kbis "été"; 2026.pdf`, SizeBytes: size, Sha256: "abc123"}
	if req.GetIfNoneMatch() != "" && (strings.Contains(req.GetIfNoneMatch(), "abc123") || req.GetIfNoneMatch() == "*") {
		info.NotModified = true
		return stream.Send(&vaultv1.DownloadDocumentResponse{Payload: &vaultv1.DownloadDocumentResponse_Metadata{Metadata: info}})
	}
	off := req.GetReadOffset()
	if off < 0 {
		off = max(size+off, 0)
	}
	if off >= size {
		st, _ := status.New(codes.FailedPrecondition, "read_offset: past the end").WithDetails(&errdetails.ErrorInfo{Reason: "RANGE_NOT_SATISFIABLE"})
		return st.Err()
	}
	n := size - off
	if l := req.GetReadLimit(); l > 0 && l < n {
		n = l
	}
	info.RangeOffset, info.RangeLength = off, n
	if err := stream.Send(&vaultv1.DownloadDocumentResponse{Payload: &vaultv1.DownloadDocumentResponse_Metadata{Metadata: info}}); err != nil {
		return err
	}
	return stream.Send(&vaultv1.DownloadDocumentResponse{Payload: &vaultv1.DownloadDocumentResponse_Chunk{Chunk: fileBytes[off : off+n]}})
}

func (f *fileVault) RequestDocuments(context.Context, *vaultv1.RequestDocumentsRequest) (*vaultv1.RequestDocumentsResponse, error) {
	st, _ := status.New(codes.ResourceExhausted, "requested less than an hour ago").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(1500 * time.Millisecond)})
	return nil, st.Err()
}

func (f *fileVault) ExportCompliance(req *vaultv1.ExportComplianceRequest, stream grpc.ServerStreamingServer[vaultv1.ExportComplianceResponse]) error {
	if req.GetParent() != "companies/c1" {
		return status.Error(codes.PermissionDenied, "not yours")
	}
	row := func(name, status string) *vaultv1.ComplianceRow {
		return &vaultv1.ComplianceRow{Supplier: "companies/s1", SupplierDisplayName: name, Entry: &vaultv1.ComplianceEntry{
			Requirement: "companies/c1/requirements/r1", DocumentType: "documentTypes/KBIS", DocumentTypeDisplayName: "Extrait Kbis",
			Subject: "companies/s1", Status: vaultv1.ComplianceStatus(vaultv1.ComplianceStatus_value[status])}}
	}
	if err := stream.Send(&vaultv1.ExportComplianceResponse{AsOfDate: "2026-03-10", Rows: []*vaultv1.ComplianceRow{row("Société Générale", "COMPLIANCE_STATUS_VALID")}}); err != nil {
		return err
	}
	return stream.Send(&vaultv1.ExportComplianceResponse{Rows: []*vaultv1.ComplianceRow{row("=HYPERLINK(\"x\")", "COMPLIANCE_STATUS_MISSING")}})
}

func newFileGateway(t *testing.T, fv *fileVault) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(newFileHandler(t, fv))
	t.Cleanup(srv.Close)
	return srv
}

// newFileHandler is the gateway's handler in front of fv.
func newFileHandler(t *testing.T, fv *fileVault) http.Handler {
	t.Helper()
	lis := servertest.Listen()
	gs := grpc.NewServer()
	vaultv1.RegisterDocumentServiceServer(gs, fv)
	vaultv1.RegisterComplianceServiceServer(gs, fv)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn := servertest.Dial(t, lis)
	var ups []upstream
	for _, name := range []string{"identity", "directory", "vault", "notify"} {
		ups = append(ups, upstream{name: name, conn: conn})
	}
	h, err := NewHandler(context.Background(), &Config{Common: config.Common{}, MaxBodyBytes: 1 << 10, ReadyTimeout: time.Second}, zap.NewNop(), ups)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// part is one multipart part to write.
type part struct {
	name, fileName, contentType string
	body                        io.Reader
}

// multipartBody writes the parts as a stream (chunked: no Content-Length).
func multipartBody(parts ...part) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for _, p := range parts {
			h := textproto.MIMEHeader{}
			cd := `form-data; name="` + p.name + `"`
			if p.fileName != "" {
				cd += `; filename="` + p.fileName + `"`
			}
			h.Set("Content-Disposition", cd)
			if p.contentType != "" {
				h.Set("Content-Type", p.contentType)
			}
			w, err := mw.CreatePart(h)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(w, p.body); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	return pr, mw.FormDataContentType()
}

func post(t *testing.T, srv *httptest.Server, body io.Reader, contentType string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+"/v1/companies/c1/documents", body)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

const goodMeta = `{"documentType":"documentTypes/KBIS","subject":"companies/c1","validFrom":"2026-01-01"}`

// TestUploadRefusals: issue 9's bad input at the edge — parts out of order
// or missing, a part after the file, a body cut short, a never-ending
// chunked body past the vault's bound (413): nothing committed.
func TestUploadRefusals(t *testing.T) {
	fv := &fileVault{limit: 1 << 20}
	srv := newFileGateway(t, fv)
	for _, tc := range []struct {
		name  string
		parts []part
		code  int
		says  string
	}{
		{"metadata after the file", []part{{name: "file", fileName: "a.pdf", body: bytes.NewReader(fileBytes)}, {name: "metadata", body: strings.NewReader(goodMeta)}}, 400, "metadata"},
		{"no file part", []part{{name: "metadata", body: strings.NewReader(goodMeta)}}, 400, "file"},
		{"a part after the file", []part{{name: "metadata", body: strings.NewReader(goodMeta)}, {name: "file", fileName: "a.pdf", body: bytes.NewReader(fileBytes)}, {name: "metadata", body: strings.NewReader(goodMeta)}}, 400, "no part may follow"},
		{"metadata that is not JSON", []part{{name: "metadata", body: strings.NewReader("{")}, {name: "file", body: bytes.NewReader(fileBytes)}}, 400, "metadata"},
		{"unknown metadata fields", []part{{name: "metadata", body: strings.NewReader(`{"evil":1}`)}, {name: "file", body: bytes.NewReader(fileBytes)}}, 400, "metadata"},
		{"a never-ending file", []part{{name: "metadata", body: strings.NewReader(goodMeta)}, {name: "file", fileName: "a.pdf", body: endless{}}}, 413, "larger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ct := multipartBody(tc.parts...)
			resp, b := post(t, srv, body, ct)
			if resp.StatusCode != tc.code || !strings.Contains(b, tc.says) || !strings.Contains(b, `"code"`) {
				t.Fatalf("HTTP %d %s, want %d mentioning %q", resp.StatusCode, b, tc.code, tc.says)
			}
		})
	}
	// A body cut mid-file.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mp, _ := mw.CreateFormField("metadata")
	_, _ = mp.Write([]byte(goodMeta))
	fp, _ := mw.CreateFormFile("file", "a.pdf")
	_, _ = fp.Write(bytes.Repeat([]byte("x"), 300_000))
	resp, b := post(t, srv, bytes.NewReader(buf.Bytes()), mw.FormDataContentType()) // no closing boundary
	if resp.StatusCode != 400 {
		t.Fatalf("a body cut mid-file: %d %s", resp.StatusCode, b)
	}
	// A body cut in the header of a part after the file (mime/multipart
	// took it for a clean end, and the file was committed).
	buf.Reset()
	mw = multipart.NewWriter(&buf)
	mp, _ = mw.CreateFormField("metadata")
	_, _ = mp.Write([]byte(goodMeta))
	fp, _ = mw.CreateFormFile("file", "a.pdf")
	_, _ = fp.Write(fileBytes)
	_, _ = mw.CreateFormField("metadata")
	cut := buf.Bytes()[:buf.Len()-len("\r\n\r\n")-10]
	if resp, b := post(t, srv, bytes.NewReader(cut), mw.FormDataContentType()); resp.StatusCode != 400 || !strings.Contains(b, "body") {
		t.Fatalf("a body cut in a part header after the file: %d %s", resp.StatusCode, b)
	}
	// A body cut inside the delimiter line after the file, before its
	// "--" or line break (mime/multipart wraps io.EOF there, which read as
	// the close delimiter, and the file was committed).
	for _, tail := range []string{"", " ", "\r", "\t"} {
		buf.Reset()
		mw = multipart.NewWriter(&buf)
		mp, _ = mw.CreateFormField("metadata")
		_, _ = mp.Write([]byte(goodMeta))
		fp, _ = mw.CreateFormFile("file", "a.pdf")
		_, _ = fp.Write(fileBytes)
		cut := append(buf.Bytes(), "\r\n--"+mw.Boundary()+tail...)
		if resp, b := post(t, srv, bytes.NewReader(cut), mw.FormDataContentType()); resp.StatusCode != 400 || !strings.Contains(b, "body") {
			t.Fatalf("a body cut in the delimiter after the file (%q): %d %s", tail, resp.StatusCode, b)
		}
	}
	time.Sleep(50 * time.Millisecond)
	fv.mu.Lock()
	defer fv.mu.Unlock()
	if len(fv.committed) != 0 {
		t.Fatalf("refused uploads were committed: %d", len(fv.committed))
	}
}

// endless is a file that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestUploadTakesNameAndTypeFromTheFilePart(t *testing.T) {
	fv := &fileVault{}
	srv := newFileGateway(t, fv)
	body, ct := multipartBody(part{name: "metadata", body: strings.NewReader(goodMeta)},
		part{name: "file", fileName: "../../etc/passwd.pdf", contentType: "application/pdf", body: bytes.NewReader(fileBytes)})
	resp, b := post(t, srv, body, ct)
	if resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, b)
	}
	fv.mu.Lock()
	defer fv.mu.Unlock()
	// The raw name goes to the vault, which refuses a path (R-VAULT-4).
	if fv.meta.GetFileName() != "../../etc/passwd.pdf" || fv.meta.GetContentType() != "application/pdf" || fv.meta.GetParent() != "companies/c1" {
		t.Fatalf("metadata %v", fv.meta)
	}
}

// TestDownloadHeaders: issue 9 point 4 — ETag, Content-Length, a safe
// Content-Disposition, nosniff, Range (206, 416), If-None-Match (304).
func TestDownloadHeaders(t *testing.T) {
	fv := &fileVault{}
	srv := newFileGateway(t, fv)
	url := srv.URL + "/v1/companies/c1/documents/d1/content"
	get := func(h map[string]string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", url, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get(nil)
	h := resp.Header
	if resp.StatusCode != 200 || body != string(fileBytes) || h.Get("ETag") != `"abc123"` || h.Get("Content-Length") != fmt.Sprint(len(fileBytes)) ||
		h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Accept-Ranges") != "bytes" || h.Get("Content-Type") != "application/pdf" {
		t.Fatalf("200: %d %q %v", resp.StatusCode, body, h)
	}
	if cd := h.Get("Content-Disposition"); cd != `attachment; filename="Kbis __t___ 2026.pdf"; filename*=UTF-8''Kbis%20%22%C3%A9t%C3%A9%22%3B%202026.pdf` {
		t.Fatalf("Content-Disposition %s", cd)
	}
	resp, body = get(map[string]string{"Range": "bytes=0-3"})
	if resp.StatusCode != 206 || body != "%PDF" || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 0-3/%d", len(fileBytes)) || resp.Header.Get("Content-Length") != "4" {
		t.Fatalf("206: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = get(map[string]string{"Range": "bytes=-5"})
	if resp.StatusCode != 206 || body != "%%EOF" {
		t.Fatalf("suffix range: %d %q", resp.StatusCode, body)
	}
	resp, body = get(map[string]string{"Range": "bytes=9-"})
	if resp.StatusCode != 206 || body != string(fileBytes[9:]) {
		t.Fatalf("open range: %d %q", resp.StatusCode, body)
	}
	resp, _ = get(map[string]string{"Range": "bytes=1000-2000"})
	if resp.StatusCode != 416 || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", len(fileBytes)) {
		t.Fatalf("416: %d %v", resp.StatusCode, resp.Header)
	}
	for _, ignored := range []string{"bytes=0-1,4-5", "lines=1-2", "bytes=5-1", "bytes=x-"} {
		if resp, body := get(map[string]string{"Range": ignored}); resp.StatusCode != 200 || body != string(fileBytes) {
			t.Fatalf("Range %q must be ignored: %d", ignored, resp.StatusCode)
		}
	}
	if resp, body := get(map[string]string{"Range": "bytes=0-3", "If-Range": `"other"`}); resp.StatusCode != 200 || body != string(fileBytes) {
		t.Fatalf("a conditional range is served whole: %d", resp.StatusCode)
	}
	resp, body = get(map[string]string{"If-None-Match": `"abc123"`})
	if resp.StatusCode != 304 || body != "" || resp.Header.Get("ETag") != `"abc123"` {
		t.Fatalf("304: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, _ = get(map[string]string{"If-None-Match": `"other"`})
	if resp.StatusCode != 200 {
		t.Fatalf("If-None-Match another ETag: %d", resp.StatusCode)
	}
}

func TestContentDisposition(t *testing.T) {
	for in, want := range map[string]string{
		"kbis.pdf":           `attachment; filename="kbis.pdf"`,
		"":                   "attachment",
		"a\r\nSet-Cookie: x": `attachment; filename="a__Set-Cookie: x"; filename*=UTF-8''a%0D%0ASet-Cookie%3A%20x`,
		"日本.pdf":             `attachment; filename="__.pdf"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.pdf`,
	} {
		if got := contentDisposition(in); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}

// TestExportCSV: issue 10 point 7 — streamed CSV, UTF-8 with BOM, formulas defused.
func TestExportCSV(t *testing.T) {
	srv := newFileGateway(t, &fileVault{})
	resp, err := http.Get(srv.URL + "/v1/companies/c1/compliance:export")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "\ufeffsupplier,supplier_name,") || len(lines) != 3 ||
		resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.Contains(resp.Header.Get("Content-Disposition"), "compliance-c1-2026-03-10.csv") {
		t.Fatalf("export: %d %v\n%s", resp.StatusCode, resp.Header, b)
	}
	if !strings.Contains(lines[1], "Société Générale") || !strings.Contains(lines[1], ",VALID,") || !strings.Contains(lines[2], `"'=HYPERLINK(""x"")"`) {
		t.Fatalf("rows:\n%s", b)
	}
	resp, _ = http.Get(srv.URL + "/v1/companies/other/compliance:export")
	if resp.StatusCode != 403 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("a refused export is a JSON error: %d %v", resp.StatusCode, resp.Header)
	}
	resp.Body.Close()
}

// TestRetryAfter: a limit's RetryInfo becomes Retry-After (R-NOTIF-3's 429).
func TestRetryAfter(t *testing.T) {
	srv := newFileGateway(t, &fileVault{})
	resp, err := http.Post(srv.URL+"/v1/companies/c1/suppliers/s1:requestDocuments", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("429: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// FuzzUploadForm: any body never panics the multipart reader, and an
// accepted form has its metadata and the file part named as required.
func FuzzUploadForm(f *testing.F) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.SetBoundary("BOUNDARY")
	mp, _ := mw.CreateFormField("metadata")
	_, _ = mp.Write([]byte(goodMeta))
	fp, _ := mw.CreateFormFile("file", "a.pdf")
	_, _ = fp.Write(fileBytes)
	_ = mw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--BOUNDARY--"))
	f.Add([]byte("--BOUNDARY\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{}\r\n--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%E6.pdf\r\n\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		form, err := readUploadForm(newFormReader(bytes.NewReader(body), "BOUNDARY"))
		if err != nil {
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("a malformed body must be INVALID_ARGUMENT: %v", err)
			}
			return
		}
		if form.meta == nil || form.file.FormName() != "file" {
			t.Fatal("an accepted form without metadata or file")
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(form.file, 1<<20))
	})
}

// decodeBoth decodes b with the download codec and with proto, into both
// download responses, and fails when they differ.
func decodeBoth(t *testing.T, c *downloadCodec, b []byte) {
	t.Helper()
	for _, pair := range [][2]proto.Message{
		{&vaultv1.DownloadDocumentResponse{}, &vaultv1.DownloadDocumentResponse{}},
		{&vaultv1.DownloadSupplierDocumentResponse{}, &vaultv1.DownloadSupplierDocumentResponse{}},
	} {
		got, want := pair[0], pair[1]
		errGot := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, got)
		errWant := proto.Unmarshal(b, want)
		if (errGot == nil) != (errWant == nil) || errWant == nil && !proto.Equal(got, want) {
			t.Fatalf("%x: codec %v (%v), proto %v (%v)", b, got, errGot, want, errWant)
		}
	}
}

// TestDownloadCodec: issue 9 — a download's chunks are decoded into one
// reused buffer, every other message as proto decodes it; the result is
// always proto's.
func TestDownloadCodec(t *testing.T) {
	c := &downloadCodec{}
	chunk := func(b []byte) []byte {
		raw, _ := proto.Marshal(&vaultv1.DownloadDocumentResponse{Payload: &vaultv1.DownloadDocumentResponse_Chunk{Chunk: b}})
		return raw
	}
	meta, _ := proto.Marshal(&vaultv1.DownloadDocumentResponse{Payload: &vaultv1.DownloadDocumentResponse_Metadata{
		Metadata: &vaultv1.DocumentContentInfo{Sha256: "abc", SizeBytes: 3}}})
	for _, b := range [][]byte{chunk([]byte("%PDF-1.7")), chunk(bytes.Repeat([]byte{7}, 1<<20)), meta, append(chunk([]byte("a")), chunk([]byte("b"))...),
		append(meta, chunk([]byte("x"))...), {}, {0x12, 0x05, 'a'}} {
		decodeBoth(t, c, b)
	}
	// The buffer is reused: a chunk is valid until the next message only.
	first := &vaultv1.DownloadDocumentResponse{}
	_ = c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(chunk([]byte("first")))}, first)
	_ = c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(chunk([]byte("later")))}, &vaultv1.DownloadDocumentResponse{})
	if string(first.GetChunk()) != "later" {
		t.Fatalf("the buffer is not reused: %q", first.GetChunk())
	}
}

// FuzzDownloadCodec: on any bytes, the download codec decodes what proto does.
func FuzzDownloadCodec(f *testing.F) {
	f.Add([]byte{0x12, 0x03, 'a', 'b', 'c'})
	f.Add([]byte{0x0a, 0x02, 0x1a, 0x00, 0x12, 0x01, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) { decodeBoth(t, &downloadCodec{}, b) })
}
