package api

import (
	"context"
	"errors"
	"io"
	"strings"

	"google.golang.org/grpc"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/protoconv"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
)

type importServer struct {
	directoryv1.UnimplementedSupplierImportServiceServer
	svc *directory.Service
}

// NewImportServer serves SupplierImportService.
func NewImportServer(svc *directory.Service) directoryv1.SupplierImportServiceServer {
	return &importServer{svc: svc}
}

func rowFromProto(m *directoryv1.SupplierImportRow) directory.ImportRow {
	return directory.ImportRow{
		RegistrationNumber: m.GetRegistrationNumber(), LegalName: m.GetLegalName(), Country: m.GetCountry(),
		Address: protoconv.AddressFrom(m.GetAddress()),
		Contact: directory.Contact{Email: m.GetContactEmail(), GivenName: m.GetContactGivenName(), FamilyName: m.GetContactFamilyName(),
			Function: m.GetContactFunction(), Phone: m.GetContactPhone(), Mobile: m.GetContactMobile()},
	}
}

func rowsFromProto(ms []*directoryv1.SupplierImportRow) []directory.ImportRow {
	out := make([]directory.ImportRow, len(ms))
	for i, m := range ms {
		out[i] = rowFromProto(m)
	}
	return out
}

func (s *importServer) CreateSupplierImport(ctx context.Context, req *directoryv1.CreateSupplierImportRequest) (*directoryv1.SupplierImport, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	customer, err := names.Company.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	src := directory.ImportSource{}
	if csv := req.GetSupplierImport().GetCsv(); csv != "" {
		src.CSV = strings.NewReader(csv)
	} else {
		rows, done := rowsFromProto(req.GetSupplierImport().GetRows()), false
		src.Rows = func() ([]directory.ImportRow, error) {
			if done {
				return nil, io.EOF
			}
			done = true
			return rows, io.EOF
		}
	}
	imp, err := s.svc.ImportSuppliers(ctx, p, customer, src)
	if err != nil {
		return nil, err
	}
	return protoconv.Import(imp), nil
}

// UploadSupplierImport reads the header, then hands the domain a reader
// over the CSV chunks or an iterator over the row batches, whichever the
// second message carries; the domain authorizes before it reads either.
func (s *importServer) UploadSupplierImport(stream grpc.ClientStreamingServer[directoryv1.UploadSupplierImportRequest, directoryv1.SupplierImport]) error {
	ctx := stream.Context()
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return errs.InvalidArgument("header", "the first message must be the header")
	}
	h := first.GetHeader()
	if h == nil {
		return errs.InvalidArgument("header", "the first message must be the header")
	}
	customer, err := names.Company.Parse("header.parent", h.GetParent())
	if err != nil {
		return err
	}
	// Decided before any of the list is read.
	if err := s.svc.CheckImport(ctx, p, customer); err != nil {
		return err
	}
	u := &upload{stream: stream}
	// The first payload says whether the list comes as CSV or as rows.
	if err := u.next(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	src := directory.ImportSource{FileName: h.GetFileName(), CSV: u}
	if u.mode == modeRows {
		src.CSV, src.Rows = nil, u.nextRows
	}
	imp, err := s.svc.ImportSuppliers(ctx, p, customer, src)
	if err != nil {
		return err
	}
	return stream.SendAndClose(protoconv.Import(imp))
}

const (
	modeUnknown = iota
	modeCSV
	modeRows
)

// upload reads an upload stream's payloads: CSV chunks as an io.Reader, or
// row batches; mixing them is refused.
type upload struct {
	stream grpc.ClientStreamingServer[directoryv1.UploadSupplierImportRequest, directoryv1.SupplierImport]
	mode   int
	chunk  []byte
	rows   []directory.ImportRow
	eof    bool
}

// next receives one payload into chunk or rows.
func (u *upload) next() error {
	if u.eof {
		return io.EOF
	}
	m, err := u.stream.Recv()
	if errors.Is(err, io.EOF) {
		u.eof = true
		return io.EOF
	}
	if err != nil {
		return err
	}
	switch {
	case m.GetHeader() != nil:
		return errs.InvalidArgument("header", "only the first message is a header")
	case m.GetRows() != nil:
		if u.mode == modeCSV {
			return errs.InvalidArgument("rows", "an upload carries CSV chunks or rows, not both")
		}
		u.mode, u.rows = modeRows, rowsFromProto(m.GetRows().GetRows())
	default:
		if u.mode == modeRows {
			return errs.InvalidArgument("chunk", "an upload carries CSV chunks or rows, not both")
		}
		u.mode, u.chunk = modeCSV, m.GetChunk()
	}
	return nil
}

func (u *upload) Read(p []byte) (int, error) {
	for len(u.chunk) == 0 {
		if err := u.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, u.chunk)
	u.chunk = u.chunk[n:]
	return n, nil
}

func (u *upload) nextRows() ([]directory.ImportRow, error) {
	for len(u.rows) == 0 {
		if err := u.next(); err != nil {
			return nil, err
		}
	}
	rows := u.rows
	u.rows = nil
	return rows, nil
}

func (s *importServer) GetSupplierImport(ctx context.Context, req *directoryv1.GetSupplierImportRequest) (*directoryv1.SupplierImport, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	customer, id, err := names.SupplierImport.Parse("name", req.GetName())
	if err != nil {
		return nil, err
	}
	imp, err := s.svc.GetImport(ctx, p, customer, id)
	if err != nil {
		return nil, err
	}
	return protoconv.Import(imp), nil
}

func (s *importServer) ListSupplierImports(ctx context.Context, req *directoryv1.ListSupplierImportsRequest) (*directoryv1.ListSupplierImportsResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	customer, err := names.Company.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	list, next, err := s.svc.ListImports(ctx, p, customer, req.GetPageToken(), int(req.GetPageSize()))
	if err != nil {
		return nil, err
	}
	out := &directoryv1.ListSupplierImportsResponse{NextPageToken: next}
	for _, imp := range list {
		out.SupplierImports = append(out.SupplierImports, protoconv.Import(imp))
	}
	return out, nil
}

func (s *importServer) ListSupplierImportResults(ctx context.Context, req *directoryv1.ListSupplierImportResultsRequest) (*directoryv1.ListSupplierImportResultsResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	customer, id, err := names.SupplierImport.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	list, next, err := s.svc.ImportResults(ctx, p, customer, id, req.GetErrorsOnly(), req.GetPageToken(), int(req.GetPageSize()))
	if err != nil {
		return nil, err
	}
	out := &directoryv1.ListSupplierImportResultsResponse{NextPageToken: next}
	for _, r := range list {
		out.Results = append(out.Results, protoconv.ImportRowResult(customer, r))
	}
	return out, nil
}

func (s *importServer) ExportSupplierImportResults(req *directoryv1.ExportSupplierImportResultsRequest, stream grpc.ServerStreamingServer[directoryv1.ExportSupplierImportResultsResponse]) error {
	ctx := stream.Context()
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	customer, id, err := names.SupplierImport.Parse("name", req.GetName())
	if err != nil {
		return err
	}
	w := &chunkWriter{
		start: func() error {
			return stream.Send(&directoryv1.ExportSupplierImportResultsResponse{Payload: &directoryv1.ExportSupplierImportResultsResponse_Metadata{
				Metadata: csvInfo("supplier-import-" + id + ".csv")}})
		},
		send: func(b []byte) error {
			return stream.Send(&directoryv1.ExportSupplierImportResultsResponse{Payload: &directoryv1.ExportSupplierImportResultsResponse_Chunk{Chunk: b}})
		},
	}
	if err := s.svc.ExportImportResults(ctx, p, customer, id, w); err != nil {
		return err
	}
	return w.flush()
}
