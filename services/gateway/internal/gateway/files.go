package gateway

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
)

// uploadChunkSize is the size of each chunk streamed to the vault; memory per
// upload stays at about this much whatever the file's size (R-VAULT-4).
const uploadChunkSize = 256 << 10

const uploadPattern = "/v1/companies/{company}/documents"

// isStreamingRoute tells the body limiter which requests stream (uploads):
// their size is bounded by the vault, not buffered here.
func isStreamingRoute(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/companies/") &&
		strings.HasSuffix(r.URL.Path, "/documents") && strings.Count(r.URL.Path, "/") == 4
}

// registerFileRoutes adds the hand-written upload and download routes, which
// grpc-gateway cannot generate for streaming RPCs with multipart bodies.
func registerFileRoutes(mux *runtime.ServeMux, _ *Config, log *zap.Logger, upstreams []upstream) error {
	var conn *grpc.ClientConn
	for _, u := range upstreams {
		if u.name == "vault" {
			conn = u.conn
		}
	}
	if conn == nil {
		return nil
	}
	docs := vaultv1.NewDocumentServiceClient(conn)
	f := &fileRoutes{mux: mux, docs: docs, log: log}
	if err := mux.HandlePath(http.MethodPost, uploadPattern, f.upload); err != nil {
		return err
	}
	if err := mux.HandlePath(http.MethodGet, "/v1/companies/{company}/documents/{document}/content", f.downloadOwn); err != nil {
		return err
	}
	return mux.HandlePath(http.MethodGet, "/v1/companies/{company}/suppliers/{supplier}/documents/{document}/content", f.downloadSupplier)
}

type fileRoutes struct {
	mux  *runtime.ServeMux
	docs vaultv1.DocumentServiceClient
	log  *zap.Logger
}

func (f *fileRoutes) fail(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) {
	_, out := runtime.MarshalerForRequest(f.mux, r)
	runtime.HTTPError(ctx, f.mux, out, w, r, err)
}

// upload streams a multipart body (a `metadata` JSON part, then a `file`
// part) to the vault's client-streaming UploadDocument.
func (f *fileRoutes) upload(w http.ResponseWriter, r *http.Request, params map[string]string) {
	ctx, err := runtime.AnnotateContext(r.Context(), f.mux, r, vaultv1.DocumentService_UploadDocument_FullMethodName,
		runtime.WithHTTPPathPattern(uploadPattern))
	if err != nil {
		f.fail(r.Context(), w, r, err)
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		f.fail(ctx, w, r, status.Error(codes.InvalidArgument, "body: expected multipart/form-data with a metadata part and a file part"))
		return
	}
	meta, err := readMetadataPart(mr)
	if err != nil {
		f.fail(ctx, w, r, err)
		return
	}
	meta.Parent = "companies/" + params["company"]
	file, err := mr.NextPart()
	if err != nil || file.FormName() != "file" {
		f.fail(ctx, w, r, status.Error(codes.InvalidArgument, "file: a part named file must follow metadata"))
		return
	}
	if meta.GetFileName() == "" {
		meta.FileName = file.FileName()
	}
	stream, err := f.docs.UploadDocument(ctx)
	if err != nil {
		f.fail(ctx, w, r, err)
		return
	}
	if err := stream.Send(&vaultv1.UploadDocumentRequest{Payload: &vaultv1.UploadDocumentRequest_Metadata{Metadata: meta}}); err != nil {
		f.fail(ctx, w, r, closeAndReport(stream, err))
		return
	}
	buf := make([]byte, uploadChunkSize)
	for {
		n, rerr := io.ReadFull(file, buf)
		if n > 0 {
			chunk := &vaultv1.UploadDocumentRequest{Payload: &vaultv1.UploadDocumentRequest_Chunk{Chunk: buf[:n]}}
			if err := stream.Send(chunk); err != nil {
				f.fail(ctx, w, r, closeAndReport(stream, err))
				return
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			f.fail(ctx, w, r, status.Errorf(codes.InvalidArgument, "file: %v", rerr))
			return
		}
	}
	doc, err := stream.CloseAndRecv()
	if err != nil {
		f.fail(ctx, w, r, err)
		return
	}
	_, out := runtime.MarshalerForRequest(f.mux, r)
	runtime.ForwardResponseMessage(ctx, f.mux, out, w, r, doc)
}

// closeAndReport returns the server's status when a Send fails: gRPC reports
// the real reason (say, the file is too large) on the receive side.
func closeAndReport(stream grpc.ClientStreamingClient[vaultv1.UploadDocumentRequest, vaultv1.Document], sendErr error) error {
	if _, err := stream.CloseAndRecv(); err != nil {
		return err
	}
	return sendErr
}

// readMetadataPart reads the leading `metadata` part (JSON, at most 64 KiB).
func readMetadataPart(mr *multipart.Reader) (*vaultv1.UploadDocumentMetadata, error) {
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "metadata" {
		return nil, status.Error(codes.InvalidArgument, "metadata: the first part must be named metadata")
	}
	raw, err := io.ReadAll(io.LimitReader(part, 64<<10+1))
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "metadata: %v", err)
	}
	if len(raw) > 64<<10 {
		return nil, status.Error(codes.InvalidArgument, "metadata: larger than 64 KiB")
	}
	meta := &vaultv1.UploadDocumentMetadata{}
	if err := protojson.Unmarshal(raw, meta); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "metadata: %v", err)
	}
	return meta, nil
}

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

func (f *fileRoutes) downloadOwn(w http.ResponseWriter, r *http.Request, params map[string]string) {
	const pattern = "/v1/companies/{company}/documents/{document}/content"
	ctx, err := runtime.AnnotateContext(r.Context(), f.mux, r, vaultv1.DocumentService_DownloadDocument_FullMethodName, runtime.WithHTTPPathPattern(pattern))
	if err != nil {
		f.fail(r.Context(), w, r, err)
		return
	}
	stream, err := f.docs.DownloadDocument(ctx, &vaultv1.DownloadDocumentRequest{
		Name: "companies/" + params["company"] + "/documents/" + params["document"],
	})
	if err != nil {
		f.fail(ctx, w, r, err)
		return
	}
	f.writeContent(ctx, w, r, recvAdapter[*vaultv1.DownloadDocumentResponse]{recv: stream.Recv})
}

func (f *fileRoutes) downloadSupplier(w http.ResponseWriter, r *http.Request, params map[string]string) {
	const pattern = "/v1/companies/{company}/suppliers/{supplier}/documents/{document}/content"
	ctx, err := runtime.AnnotateContext(r.Context(), f.mux, r, vaultv1.DocumentService_DownloadSupplierDocument_FullMethodName, runtime.WithHTTPPathPattern(pattern))
	if err != nil {
		f.fail(r.Context(), w, r, err)
		return
	}
	stream, err := f.docs.DownloadSupplierDocument(ctx, &vaultv1.DownloadSupplierDocumentRequest{
		Name: "companies/" + params["company"] + "/suppliers/" + params["supplier"] + "/documents/" + params["document"],
	})
	if err != nil {
		f.fail(ctx, w, r, err)
		return
	}
	f.writeContent(ctx, w, r, recvAdapter[*vaultv1.DownloadSupplierDocumentResponse]{recv: stream.Recv})
}

// writeContent sends the document's bytes as they arrive. Errors before the
// first byte become a JSON error; after it, the connection is cut so the
// client sees a short body rather than a corrupted file.
func (f *fileRoutes) writeContent(ctx context.Context, w http.ResponseWriter, r *http.Request, stream contentStream) {
	first, err := stream.Recv()
	if err != nil {
		f.fail(ctx, w, r, err)
		return
	}
	info := first.GetMetadata()
	if info == nil {
		f.fail(ctx, w, r, status.Error(codes.Internal, "download stream did not start with metadata"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", info.GetContentType())
	h.Set("Content-Length", strconv.FormatInt(info.GetSizeBytes(), 10))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": info.GetFileName()}))
	h.Set("X-Content-Sha256", info.GetSha256())
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			f.log.Warn("download interrupted", zap.Error(err), zap.String("path", url.PathEscape(r.URL.Path)))
			panic(http.ErrAbortHandler)
		}
		if _, err := w.Write(msg.GetChunk()); err != nil {
			return
		}
	}
}
