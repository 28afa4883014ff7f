package gateway

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
)

// Directory's hand-written routes: the supplier import upload (a CSV file
// of any length, streamed, R-DIR-4) and the CSV downloads (the supplier
// list, an import's row results). grpc-gateway cannot generate them: the
// upload is a client stream fed from a multipart or text/csv body, the
// downloads server streams written out as files.

const (
	importsPattern       = "/v1/companies/{company}/supplierImports"
	exportSuppliers      = "/v1/companies/{company}/suppliers:export"
	exportImportResults  = "/v1/companies/{company}/supplierImports/{import}/results:export"
	importUploadChunkLen = 256 << 10
)

// isDirectoryStreamingRoute tells the body limiter which directory requests
// stream (import uploads): their length is bounded by directory's row limit,
// not buffered here.
func isDirectoryStreamingRoute(r *http.Request) bool {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/v1/companies/") || !strings.HasSuffix(r.URL.Path, "/supplierImports") ||
		strings.Count(r.URL.Path, "/") != 4 {
		return false
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt != "application/json"
}

// registerDirectoryFileRoutes adds the upload and download routes; the
// upload's POST, registered after the generated routes, takes precedence
// and serves a JSON body as CreateSupplierImport.
func registerDirectoryFileRoutes(mux *runtime.ServeMux, cfg *Config, log *zap.Logger, upstreams []upstream) error {
	conn := connOf(upstreams, "directory")
	if conn == nil {
		return nil
	}
	d := &directoryFiles{mux: mux, imports: directoryv1.NewSupplierImportServiceClient(conn),
		suppliers: directoryv1.NewSupplierServiceClient(conn), log: log, maxJSON: cfg.MaxBodyBytes}
	if err := mux.HandlePath(http.MethodPost, importsPattern, d.upload); err != nil {
		return err
	}
	if err := mux.HandlePath(http.MethodGet, exportSuppliers, d.exportSuppliers); err != nil {
		return err
	}
	return mux.HandlePath(http.MethodGet, exportImportResults, d.exportResults)
}

type directoryFiles struct {
	mux       *runtime.ServeMux
	imports   directoryv1.SupplierImportServiceClient
	suppliers directoryv1.SupplierServiceClient
	log       *zap.Logger
	maxJSON   int64
}

func (d *directoryFiles) fail(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) {
	_, out := runtime.MarshalerForRequest(d.mux, r)
	runtime.HTTPError(ctx, d.mux, out, w, r, err)
}

func (d *directoryFiles) reply(ctx context.Context, w http.ResponseWriter, r *http.Request, m *directoryv1.SupplierImport) {
	_, out := runtime.MarshalerForRequest(d.mux, r)
	runtime.ForwardResponseMessage(ctx, d.mux, out, w, r, m)
}

// upload streams the list to directory: a `file` part of a multipart body,
// or the body itself when it is text/csv (any other type but JSON is read
// as CSV too); a JSON body is the small-list CreateSupplierImport.
func (d *directoryFiles) upload(w http.ResponseWriter, r *http.Request, params map[string]string) {
	parent := "companies/" + params["company"]
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil && r.Header.Get("Content-Type") != "" {
		d.fail(r.Context(), w, r, status.Error(codes.InvalidArgument, "Content-Type: not a media type"))
		return
	}
	if mt == "application/json" {
		d.createJSON(w, r, parent)
		return
	}
	ctx, err := runtime.AnnotateContext(r.Context(), d.mux, r, directoryv1.SupplierImportService_UploadSupplierImport_FullMethodName,
		runtime.WithHTTPPathPattern(importsPattern))
	if err != nil {
		d.fail(r.Context(), w, r, err)
		return
	}
	var body io.Reader = r.Body
	fileName := ""
	if mt == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			d.fail(ctx, w, r, status.Error(codes.InvalidArgument, "body: malformed multipart/form-data"))
			return
		}
		for {
			part, err := mr.NextPart()
			if err != nil {
				d.fail(ctx, w, r, status.Error(codes.InvalidArgument, "file: the multipart body has no part named file"))
				return
			}
			if part.FormName() == "file" {
				body, fileName = part, part.FileName()
				break
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(part, 64<<10))
		}
	}
	stream, err := d.imports.UploadSupplierImport(ctx)
	if err != nil {
		d.fail(ctx, w, r, err)
		return
	}
	closeAndReport := func(sendErr error) error {
		if _, err := stream.CloseAndRecv(); err != nil {
			return err
		}
		return sendErr
	}
	header := &directoryv1.UploadSupplierImportRequest{Payload: &directoryv1.UploadSupplierImportRequest_Header{
		Header: &directoryv1.UploadSupplierImportHeader{Parent: parent, FileName: safeFileName(fileName)}}}
	if err := stream.Send(header); err != nil {
		d.fail(ctx, w, r, closeAndReport(err))
		return
	}
	buf := make([]byte, importUploadChunkLen)
	for {
		n, rerr := io.ReadFull(body, buf)
		if n > 0 {
			if err := stream.Send(&directoryv1.UploadSupplierImportRequest{Payload: &directoryv1.UploadSupplierImportRequest_Chunk{Chunk: buf[:n]}}); err != nil {
				d.fail(ctx, w, r, closeAndReport(err))
				return
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			// The client's body broke off: end the stream with an error so
			// that directory discards what it received.
			d.fail(ctx, w, r, status.Errorf(codes.InvalidArgument, "file: %v", rerr))
			return
		}
	}
	imp, err := stream.CloseAndRecv()
	if err != nil {
		d.fail(ctx, w, r, err)
		return
	}
	d.reply(ctx, w, r, imp)
}

// createJSON serves a JSON body (a SupplierImport with `csv` or `rows`) as
// CreateSupplierImport, bounded like every JSON body.
func (d *directoryFiles) createJSON(w http.ResponseWriter, r *http.Request, parent string) {
	ctx, err := runtime.AnnotateContext(r.Context(), d.mux, r, directoryv1.SupplierImportService_CreateSupplierImport_FullMethodName,
		runtime.WithHTTPPathPattern(importsPattern))
	if err != nil {
		d.fail(r.Context(), w, r, err)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, d.maxJSON+1))
	if err != nil {
		d.fail(ctx, w, r, status.Errorf(codes.InvalidArgument, "body: %v", err))
		return
	}
	if int64(len(raw)) > d.maxJSON {
		d.fail(ctx, w, r, &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestEntityTooLarge,
			Err: status.Error(codes.InvalidArgument, "body: larger than the JSON limit; send the list as a text/csv or multipart file")})
		return
	}
	in := &directoryv1.SupplierImport{}
	if err := protojson.Unmarshal(raw, in); err != nil {
		d.fail(ctx, w, r, status.Errorf(codes.InvalidArgument, "body: %v", err))
		return
	}
	imp, err := d.imports.CreateSupplierImport(ctx, &directoryv1.CreateSupplierImportRequest{Parent: parent, SupplierImport: in})
	if err != nil {
		d.fail(ctx, w, r, err)
		return
	}
	d.reply(ctx, w, r, imp)
}

// fileStream is what both exports return: metadata first, then chunks.
type fileStream interface {
	recv() (*directoryv1.FileInfo, []byte, error)
}

type exportStream[T interface {
	GetMetadata() *directoryv1.FileInfo
	GetChunk() []byte
}] struct{ r func() (T, error) }

func (s exportStream[T]) recv() (*directoryv1.FileInfo, []byte, error) {
	m, err := s.r()
	if err != nil {
		return nil, nil, err
	}
	return m.GetMetadata(), m.GetChunk(), nil
}

func (d *directoryFiles) exportSuppliers(w http.ResponseWriter, r *http.Request, params map[string]string) {
	ctx, err := runtime.AnnotateContext(r.Context(), d.mux, r, directoryv1.SupplierService_ExportSuppliers_FullMethodName,
		runtime.WithHTTPPathPattern(exportSuppliers))
	if err != nil {
		d.fail(r.Context(), w, r, err)
		return
	}
	q := r.URL.Query()
	stream, err := d.suppliers.ExportSuppliers(ctx, &directoryv1.ExportSuppliersRequest{Parent: "companies/" + params["company"],
		NamePrefix: firstOf(q, "namePrefix", "name_prefix"), RegistrationNumber: firstOf(q, "registrationNumber", "registration_number")})
	if err != nil {
		d.fail(ctx, w, r, err)
		return
	}
	d.writeFile(ctx, w, r, exportStream[*directoryv1.ExportSuppliersResponse]{r: stream.Recv})
}

func (d *directoryFiles) exportResults(w http.ResponseWriter, r *http.Request, params map[string]string) {
	ctx, err := runtime.AnnotateContext(r.Context(), d.mux, r, directoryv1.SupplierImportService_ExportSupplierImportResults_FullMethodName,
		runtime.WithHTTPPathPattern(exportImportResults))
	if err != nil {
		d.fail(r.Context(), w, r, err)
		return
	}
	stream, err := d.imports.ExportSupplierImportResults(ctx, &directoryv1.ExportSupplierImportResultsRequest{
		Name: "companies/" + params["company"] + "/supplierImports/" + params["import"]})
	if err != nil {
		d.fail(ctx, w, r, err)
		return
	}
	d.writeFile(ctx, w, r, exportStream[*directoryv1.ExportSupplierImportResultsResponse]{r: stream.Recv})
}

// writeFile sends a streamed file as it arrives. Errors before the first
// byte become a JSON error; after it, the connection is cut so that the
// client sees a short file rather than a wrong one.
func (d *directoryFiles) writeFile(ctx context.Context, w http.ResponseWriter, r *http.Request, s fileStream) {
	info, _, err := s.recv()
	if err != nil {
		d.fail(ctx, w, r, err)
		return
	}
	if info == nil {
		d.fail(ctx, w, r, status.Error(codes.Internal, "export stream did not start with metadata"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", info.GetContentType())
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": safeFileName(info.GetFileName())}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	for {
		_, chunk, err := s.recv()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			d.log.Warn("export interrupted", zap.Error(err), zap.String("route", r.URL.Path))
			panic(http.ErrAbortHandler)
		}
		if _, err := w.Write(chunk); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

// safeFileName keeps the last path element of a name, without control characters.
func safeFileName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
}

func firstOf(q map[string][]string, keys ...string) string {
	for _, k := range keys {
		if v, ok := q[k]; ok && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}
