package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
)

// The vault's hand-written routes: streaming uploads (multipart in, gRPC
// client streaming out) and downloads (gRPC server streaming in, bytes out,
// with ETag, Range and If-None-Match), which grpc-gateway cannot generate.
// Neither buffers a file: memory per request stays at one chunk whatever
// the file's size (R-VAULT-4).

// uploadChunkSize is the size of each chunk streamed to the vault: the
// largest whose message fits gRPC's largest pooled buffer (1 MiB, zeroed on
// each use: a 256 KiB chunk cleared 1 MiB, issue 9), under the contract's
// 1 MiB bound.
const uploadChunkSize = 1<<20 - 64

// uploadIdle bounds the wait for the next bytes of an upload: a client that
// stops sending is cut off rather than holding a stream open.
const uploadIdle = 30 * time.Second

// uploadHeadBytes bounds what an upload may send besides the file's bytes:
// the preamble, the metadata part (at most 64 KiB) and the part headers
// before the file, and again what follows it. Go's multipart reader alone
// would hold a part's headers up to 10 MiB in memory, and read a preamble
// without end, before the vault has seen the token.
const uploadHeadBytes = 128 << 10

// headLimiter lets at most left bytes through (left < 0: unbounded); past
// them it fails, and says so with exceeded.
type headLimiter struct {
	r        io.Reader
	left     int64
	exceeded bool
}

var errUploadHead = fmt.Errorf("the parts around the file (preamble, metadata, part headers) are larger than %d KiB", uploadHeadBytes>>10)

func (l *headLimiter) Read(p []byte) (int, error) {
	if l.left < 0 {
		return l.r.Read(p)
	}
	if l.left == 0 {
		l.exceeded = true
		return 0, errUploadHead
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// headTooLarge is the 413 of an upload whose parts around the file exceed
// uploadHeadBytes, or one of whose part headers exceeds formMaxHeader
// (cause: errUploadHead or errPartHeaderTooLarge).
func headTooLarge(cause error) error {
	return &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestEntityTooLarge,
		Err: status.Errorf(codes.InvalidArgument, "body: %v", cause)}
}

const (
	uploadPattern           = "/v1/companies/{company}/documents"
	downloadOwnPattern      = "/v1/companies/{company}/documents/{document}/content"
	downloadSupplierPattern = "/v1/companies/{company}/suppliers/{supplier}/documents/{document}/content"
)

// isStreamingRoute tells the body limiter which requests stream (uploads):
// their size is bounded by the vault, not buffered here.
func isStreamingRoute(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/companies/") &&
		strings.HasSuffix(r.URL.Path, "/documents") && strings.Count(r.URL.Path, "/") == 4
}

// registerFileRoutes adds the hand-written upload, download and export routes.
func registerFileRoutes(mux *runtime.ServeMux, cfg *Config, log *zap.Logger, upstreams []upstream) error {
	conn := connOf(upstreams, "vault")
	if conn == nil {
		return nil
	}
	f := &fileRoutes{mux: mux, docs: vaultv1.NewDocumentServiceClient(conn), compliance: vaultv1.NewComplianceServiceClient(conn), log: log}
	if cfg != nil {
		f.uploadTimeout = cfg.UploadTimeout
	}
	for _, r := range []struct {
		method, pattern string
		h               runtime.HandlerFunc
	}{
		{http.MethodPost, uploadPattern, f.upload},
		{http.MethodGet, downloadOwnPattern, f.downloadOwn},
		{http.MethodGet, downloadSupplierPattern, f.downloadSupplier},
		{http.MethodGet, exportPattern, f.exportCompliance},
	} {
		if err := mux.HandlePath(r.method, r.pattern, r.h); err != nil {
			return err
		}
	}
	return nil
}

type fileRoutes struct {
	mux        *runtime.ServeMux
	docs       vaultv1.DocumentServiceClient
	compliance vaultv1.ComplianceServiceClient
	log        *zap.Logger
	// uploadTimeout bounds a whole upload (--upload-timeout; 0: none).
	uploadTimeout time.Duration
}

func (f *fileRoutes) fail(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) {
	_, out := runtime.MarshalerForRequest(f.mux, r)
	runtime.HTTPError(ctx, f.mux, out, w, r, err)
}

// reasonOf is the ErrorInfo reason of a gRPC error.
func reasonOf(err error) string {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// ---- upload

// uploadForm is a parsed upload: the metadata and the file part, positioned
// at its first byte.
type uploadForm struct {
	meta *vaultv1.UploadDocumentMetadata
	file *formPart
}

func badRequest(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// readUploadForm reads a multipart body up to the file's first byte: a
// `metadata` JSON part first (at most 64 KiB), then a `file` part. The file
// name and declared type come from the file part unless the metadata sets
// them; the name is taken raw (not made a base name), so that the vault
// refuses a path rather than silently storing part of it.
func readUploadForm(mr *formReader) (*uploadForm, error) {
	part, err := mr.NextPart()
	if errors.Is(err, errPartHeaderTooLarge) {
		return nil, err // 413, by the caller
	}
	if err != nil {
		return nil, badRequest("metadata: expected a multipart body whose first part is named metadata: %v", err)
	}
	if part.FormName() != "metadata" {
		return nil, badRequest("metadata: the first part must be named metadata (it was %q)", part.FormName())
	}
	raw, err := io.ReadAll(io.LimitReader(part, 64<<10+1))
	if err != nil {
		return nil, badRequest("metadata: %v", err)
	}
	if len(raw) > 64<<10 {
		return nil, badRequest("metadata: larger than 64 KiB")
	}
	meta := &vaultv1.UploadDocumentMetadata{}
	if err := protojson.Unmarshal(raw, meta); err != nil {
		return nil, badRequest("metadata: not a valid document metadata object: %v", err)
	}
	file, err := mr.NextPart()
	if errors.Is(err, errPartHeaderTooLarge) {
		return nil, err // 413, by the caller
	}
	if err != nil {
		return nil, badRequest("file: a part named file must follow metadata: %v", err)
	}
	if file.FormName() != "file" {
		return nil, badRequest("file: the part after metadata must be named file (it was %q)", file.FormName())
	}
	if meta.GetFileName() == "" {
		_, params, err := mime.ParseMediaType(file.Header.Get("Content-Disposition"))
		if err == nil {
			meta.FileName = params["filename"]
		}
	}
	if meta.GetContentType() == "" {
		if ct := file.Header.Get("Content-Type"); ct != "" {
			if t, _, err := mime.ParseMediaType(ct); err == nil {
				meta.ContentType = t
			}
		}
	}
	return &uploadForm{meta: meta, file: file}, nil
}

// idleReader moves the connection's read deadline before each read: at
// most uploadIdle ahead, never past the whole upload's deadline.
type idleReader struct {
	r     io.Reader
	rc    *http.ResponseController
	until time.Time // zero: no overall bound
}

func (i idleReader) Read(p []byte) (int, error) {
	d := time.Now().Add(uploadIdle)
	if !i.until.IsZero() && i.until.Before(d) {
		d = i.until
	}
	_ = i.rc.SetReadDeadline(d)
	return i.r.Read(p)
}

// upload streams a multipart body to the vault's client-streaming
// UploadDocument. Only a complete, well-formed body is committed: on any
// error the stream is cancelled, never closed, so the vault stores nothing.
func (f *fileRoutes) upload(w http.ResponseWriter, r *http.Request, params map[string]string) {
	ctx, err := runtime.AnnotateContext(r.Context(), f.mux, r, vaultv1.DocumentService_UploadDocument_FullMethodName,
		runtime.WithHTTPPathPattern(uploadPattern))
	if err != nil {
		f.fail(r.Context(), w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	idle := idleReader{r: r.Body, rc: rc}
	if f.uploadTimeout > 0 {
		idle.until = time.Now().Add(f.uploadTimeout)
	}
	head := &headLimiter{r: idle, left: uploadHeadBytes}
	mr, err := uploadMultipart(r, head)
	if err != nil {
		f.fail(ctx, w, r, badRequest("body: expected multipart/form-data with a metadata part and a file part"))
		return
	}
	form, err := readUploadForm(mr)
	if head.exceeded {
		err = headTooLarge(errUploadHead)
		w.Header().Set("Connection", "close")
	} else if errors.Is(err, errPartHeaderTooLarge) {
		err = headTooLarge(err)
		w.Header().Set("Connection", "close")
	}
	if err != nil {
		f.fail(ctx, w, r, err)
		return
	}
	// The file's bytes are bounded by the vault (413 past its bound).
	head.left = -1
	form.meta.Parent = "companies/" + params["company"]

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := f.docs.UploadDocument(sctx)
	if err != nil {
		f.fail(ctx, w, r, err)
		return
	}
	abort := func(err error) {
		cancel()
		f.fail(ctx, w, r, err)
	}
	if err := stream.Send(&vaultv1.UploadDocumentRequest{Payload: &vaultv1.UploadDocumentRequest_Metadata{Metadata: form.meta}}); err != nil {
		f.failUpload(ctx, w, r, closeAndReport(stream, err))
		return
	}
	buf := make([]byte, uploadChunkSize)
	for {
		n, rerr := fill(form.file, buf)
		if n > 0 {
			chunk := &vaultv1.UploadDocumentRequest{Payload: &vaultv1.UploadDocumentRequest_Chunk{Chunk: buf[:n]}}
			if err := stream.Send(chunk); err != nil {
				// The vault answered (too large, wrong type): its status.
				f.failUpload(ctx, w, r, closeAndReport(stream, err))
				return
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			// io.ErrUnexpectedEOF here is the multipart reader's: the body
			// ended before the closing boundary.
			abort(badRequest("file: the body ended before the file did, or is not well-formed multipart: %v", rerr))
			return
		}
	}
	// Nothing may follow the file: a metadata part after it is refused.
	head.left = uploadHeadBytes
	if next, err := mr.NextPart(); head.exceeded || errors.Is(err, errPartHeaderTooLarge) {
		w.Header().Set("Connection", "close")
		if head.exceeded {
			err = errUploadHead
		}
		abort(headTooLarge(err))
		return
	} else if err == nil {
		abort(badRequest("%s: no part may follow the file part (metadata comes first)", next.FormName()))
		return
	} else if !errors.Is(err, io.EOF) {
		abort(badRequest("body: not well-formed multipart after the file: %v", err))
		return
	}
	doc, err := stream.CloseAndRecv()
	if err != nil {
		f.failUpload(ctx, w, r, err)
		return
	}
	_, out := runtime.MarshalerForRequest(f.mux, r)
	runtime.ForwardResponseMessage(ctx, f.mux, out, w, r, doc)
}

// uploadMultipart is r.MultipartReader's check of the Content-Type (the
// same types accepted, the same boundary rule) and a formReader of body
// (uploadform.go: mime/multipart, read 4 KiB at a time from the
// connection, cost a system call and a read deadline per 4 KiB, and
// scanned each 4 KiB backwards byte by byte: two thirds of the gateway's
// CPU for an upload, issue 9).
func uploadMultipart(r *http.Request, body io.Reader) (*formReader, error) {
	d, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || d != "multipart/form-data" && d != "multipart/mixed" {
		return nil, http.ErrNotMultipart
	}
	boundary, ok := params["boundary"]
	if !ok {
		return nil, http.ErrMissingBoundary
	}
	return newFormReader(body, boundary), nil
}

// fill reads into buf until it is full or r fails; unlike io.ReadFull it
// passes r's own error through (io.EOF at a clean end).
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// failUpload answers an upload the vault refused; a file over the bound is
// 413 (R-VAULT-4).
func (f *fileRoutes) failUpload(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) {
	if reasonOf(err) == "DOCUMENT_TOO_LARGE" {
		err = &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestEntityTooLarge, Err: err}
		// The rest of the body is not read: close the connection after
		// answering instead of draining it.
		w.Header().Set("Connection", "close")
	}
	f.fail(ctx, w, r, err)
}

// closeAndReport returns the server's status when a Send fails: gRPC reports
// the real reason (say, the file is too large) on the receive side.
func closeAndReport(stream grpc.ClientStreamingClient[vaultv1.UploadDocumentRequest, vaultv1.Document], sendErr error) error {
	if _, err := stream.CloseAndRecv(); err != nil {
		return err
	}
	return sendErr
}

// ---- download

// contentStream is what both download RPCs return: metadata first, then chunks.
type contentStream interface {
	Recv() (contentMessage, error)
}

type contentMessage interface {
	GetMetadata() *vaultv1.DocumentContentInfo
	GetChunk() []byte
}

type recvAdapter[T contentMessage] struct {
	recv func() (T, error)
}

func (a recvAdapter[T]) Recv() (contentMessage, error) { return a.recv() }

// byteRange is a request's single Range (RFC 9110 §14.1.2).
type byteRange struct {
	offset, limit int64 // offset < 0: the last -offset bytes
	ok            bool
}

// parseRange reads `bytes=a-b`, `bytes=a-` or `bytes=-n`. Several ranges,
// other units or a malformed header are ignored (the whole file is sent),
// as RFC 9110 allows; unsatisfiable is reported by the vault.
func parseRange(h string) byteRange {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return byteRange{}
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return byteRange{}
	}
	num := func(s string) (int64, bool) {
		if s == "" || len(s) > 18 {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil && n >= 0
	}
	if first == "" {
		n, ok := num(last)
		if !ok {
			return byteRange{}
		}
		if n == 0 {
			return byteRange{offset: math.MaxInt64, ok: true} // unsatisfiable
		}
		return byteRange{offset: -n, ok: true}
	}
	a, ok := num(first)
	if !ok {
		return byteRange{}
	}
	if last == "" {
		return byteRange{offset: a, ok: true}
	}
	b, ok := num(last)
	if !ok || b < a {
		return byteRange{}
	}
	return byteRange{offset: a, limit: b - a + 1, ok: true}
}

type downloadParams struct {
	offset, limit int64
	ifNoneMatch   string
}

// downloadCodec decodes the chunks of one download stream into a buffer
// of its own, reused from message to message, where the proto codec copies
// each chunk into new memory (a 1 MiB allocation per chunk, and a quarter
// of the gateway's CPU for a download, issue 9). The chunk a Recv returns
// is valid until the next Recv: download writes it out before. Any other
// message (the metadata) goes to the proto codec.
type downloadCodec struct{ buf []byte }

var protoCodec = encoding.GetCodecV2("proto")

// Name is the proto codec's, so that the call's content type is unchanged.
func (*downloadCodec) Name() string { return "proto" }

func (*downloadCodec) Marshal(v any) (mem.BufferSlice, error) { return protoCodec.Marshal(v) }

func (c *downloadCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if n := data.Len(); n > cap(c.buf) {
		c.buf = make([]byte, n)
	}
	buf := c.buf[:data.Len()]
	data.CopyTo(buf)
	chunk, ok := onlyChunk(buf)
	switch m := v.(type) {
	case *vaultv1.DownloadDocumentResponse:
		if ok {
			m.Reset()
			m.Payload = &vaultv1.DownloadDocumentResponse_Chunk{Chunk: chunk}
			return nil
		}
	case *vaultv1.DownloadSupplierDocumentResponse:
		if ok {
			m.Reset()
			m.Payload = &vaultv1.DownloadSupplierDocumentResponse_Chunk{Chunk: chunk}
			return nil
		}
	}
	return protoCodec.Unmarshal(data, v)
}

// onlyChunk returns the bytes of field 2 (chunk, in both download
// responses) when b is that one field and nothing else.
func onlyChunk(b []byte) ([]byte, bool) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num != 2 || typ != protowire.BytesType {
		return nil, false
	}
	v, m := protowire.ConsumeBytes(b[n:])
	if m < 0 || n+m != len(b) {
		return nil, false
	}
	return v, true
}

func (f *fileRoutes) downloadOwn(w http.ResponseWriter, r *http.Request, params map[string]string) {
	name := "companies/" + params["company"] + "/documents/" + params["document"]
	f.download(w, r, vaultv1.DocumentService_DownloadDocument_FullMethodName, downloadOwnPattern, func(ctx context.Context, p downloadParams) (contentStream, error) {
		s, err := f.docs.DownloadDocument(ctx, &vaultv1.DownloadDocumentRequest{Name: name, ReadOffset: p.offset, ReadLimit: p.limit, IfNoneMatch: p.ifNoneMatch},
			grpc.ForceCodecV2(&downloadCodec{}))
		if err != nil {
			return nil, err
		}
		return recvAdapter[*vaultv1.DownloadDocumentResponse]{recv: s.Recv}, nil
	})
}

func (f *fileRoutes) downloadSupplier(w http.ResponseWriter, r *http.Request, params map[string]string) {
	name := "companies/" + params["company"] + "/suppliers/" + params["supplier"] + "/documents/" + params["document"]
	f.download(w, r, vaultv1.DocumentService_DownloadSupplierDocument_FullMethodName, downloadSupplierPattern, func(ctx context.Context, p downloadParams) (contentStream, error) {
		s, err := f.docs.DownloadSupplierDocument(ctx, &vaultv1.DownloadSupplierDocumentRequest{Name: name, ReadOffset: p.offset, ReadLimit: p.limit, IfNoneMatch: p.ifNoneMatch},
			grpc.ForceCodecV2(&downloadCodec{}))
		if err != nil {
			return nil, err
		}
		return recvAdapter[*vaultv1.DownloadSupplierDocumentResponse]{recv: s.Recv}, nil
	})
}

// download answers a GET of a document's bytes: 200 with the whole file,
// 206 with one Range, 304 when If-None-Match holds its ETag (the SHA-256),
// 416 for a range past the end.
func (f *fileRoutes) download(w http.ResponseWriter, r *http.Request, method, pattern string, open func(context.Context, downloadParams) (contentStream, error)) {
	ctx, err := runtime.AnnotateContext(r.Context(), f.mux, r, method, runtime.WithHTTPPathPattern(pattern))
	if err != nil {
		f.fail(r.Context(), w, r, err)
		return
	}
	p := downloadParams{ifNoneMatch: r.Header.Get("If-None-Match")}
	rg := byteRange{}
	if r.Header.Get("If-Range") == "" { // a conditional range is served whole
		rg = parseRange(r.Header.Get("Range"))
	}
	if rg.ok {
		p.offset, p.limit = rg.offset, rg.limit
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := open(ctx, p)
	var first contentMessage
	if err == nil {
		first, err = stream.Recv()
	}
	if err != nil {
		if reasonOf(err) == "RANGE_NOT_SATISFIABLE" {
			f.unsatisfiable(ctx, w, r, open, err)
			return
		}
		f.fail(ctx, w, r, err)
		return
	}
	info := first.GetMetadata()
	if info == nil {
		f.fail(ctx, w, r, status.Error(codes.Internal, "download stream did not start with metadata"))
		return
	}
	h := w.Header()
	h.Set("ETag", `"`+info.GetSha256()+`"`)
	h.Set("Cache-Control", "private, no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if info.GetNotModified() {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	length := info.GetRangeLength()
	if length == 0 && info.GetRangeOffset() == 0 {
		length = info.GetSizeBytes()
	}
	h.Set("Content-Type", info.GetContentType())
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	h.Set("Content-Disposition", contentDisposition(info.GetFileName()))
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Accept-Ranges", "bytes")
	h.Set("X-Content-Sha256", info.GetSha256())
	code := http.StatusOK
	if rg.ok {
		code = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", info.GetRangeOffset(), info.GetRangeOffset()+length-1, info.GetSizeBytes()))
	}
	w.WriteHeader(code)
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			// Headers are gone: cut the connection, so that the client sees
			// a short body rather than a corrupted file.
			f.log.Warn("download interrupted", zap.Error(err), zap.String("route", pattern))
			panic(http.ErrAbortHandler)
		}
		if _, err := w.Write(msg.GetChunk()); err != nil {
			return
		}
	}
}

// unsatisfiable answers 416 with the file's size (RFC 9110 §15.5.17),
// read with a metadata-only request that records no download.
func (f *fileRoutes) unsatisfiable(ctx context.Context, w http.ResponseWriter, r *http.Request, open func(context.Context, downloadParams) (contentStream, error), cause error) {
	if s, err := open(ctx, downloadParams{ifNoneMatch: "*"}); err == nil {
		if m, err := s.Recv(); err == nil && m.GetMetadata() != nil {
			w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(m.GetMetadata().GetSizeBytes(), 10))
		}
	}
	f.fail(ctx, w, r, &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestedRangeNotSatisfiable, Err: cause})
}

// contentDisposition is an RFC 6266 attachment header: an ASCII fallback
// `filename` and, for other names, the UTF-8 `filename*` (RFC 8187). File
// names are metadata only: nothing in them can break the header.
func contentDisposition(name string) string {
	if name == "" {
		return "attachment"
	}
	var ascii strings.Builder
	plain := true
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || r >= utf8.RuneSelf:
			ascii.WriteByte('_')
			plain = false
		case r == '"' || r == '\\' || r == '/' || r == ';':
			ascii.WriteByte('_')
			plain = false
		default:
			ascii.WriteRune(r)
		}
	}
	out := `attachment; filename="` + ascii.String() + `"`
	if !plain {
		out += "; filename*=UTF-8''" + encodeRFC8187(name)
	}
	return out
}

// encodeRFC8187 percent-encodes every byte but attr-char.
func encodeRFC8187(s string) string {
	const attr = "!#$&+-.^_`|~"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(attr, c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
