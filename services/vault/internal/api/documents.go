package api

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/vault/internal/vault"
)

type documentServer struct {
	vaultv1.UnimplementedDocumentServiceServer
	svc    *vault.Service
	chunks *Chunks
}

// UploadDocument reads the metadata message, then hands the domain a
// reader over the chunks that follow: the bytes flow through without
// being gathered (R-VAULT-4).
func (s *documentServer) UploadDocument(stream grpc.ClientStreamingServer[vaultv1.UploadDocumentRequest, vaultv1.Document]) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return errs.InvalidArgument("metadata", "the stream must start with the document's metadata")
		}
		return err
	}
	md := first.GetMetadata()
	if md == nil {
		return errs.InvalidArgument("metadata", "the stream must start with the document's metadata")
	}
	supplier, err := names.Company.Parse("parent", md.GetParent())
	if err != nil {
		return err
	}
	docType, err := typeID("document_type", md.GetDocumentType())
	if err != nil {
		return err
	}
	// The subject's company is checked against the parent by the domain,
	// after the caller's rights: a refused caller learns nothing.
	subjectCompany, employee := "", ""
	if c, ok := names.Company.Match(md.GetSubject()); ok {
		subjectCompany = c
	} else if c, e, ok := names.Employee.Match(md.GetSubject()); ok {
		subjectCompany, employee = c, e
	} else {
		return errs.InvalidArgument("subject", "must be companies/{company} or companies/{company}/employees/{employee}")
	}
	from, err := parseDate("valid_from", md.GetValidFrom())
	if err != nil {
		return err
	}
	until, err := parseDate("valid_until", md.GetValidUntil())
	if err != nil {
		return err
	}
	meta := vault.UploadMeta{Supplier: supplier, SubjectCompany: subjectCompany, DocumentType: docType, Employee: employee, FileName: md.GetFileName(),
		DeclaredType: md.GetContentType(), ValidFrom: from, ValidUntil: until, SHA256: md.GetSha256()}
	d, err := s.svc.Upload(ctx, caller(ctx), meta, &chunkReader{stream: stream})
	if err != nil {
		return err
	}
	return stream.SendAndClose(documentToProto(d))
}

// chunkReader reads an upload's chunk messages as a byte stream. It
// receives every message into msg, whose chunk buffer Codec reuses: a
// chunk is read whole before the next is received.
type chunkReader struct {
	stream grpc.ClientStreamingServer[vaultv1.UploadDocumentRequest, vaultv1.Document]
	msg    vaultv1.UploadDocumentRequest
	buf    []byte // what is left of the current chunk (Read)
}

func (r *chunkReader) recv() (*vaultv1.UploadDocumentRequest, error) {
	if err := r.stream.RecvMsg(&r.msg); err != nil {
		return nil, err
	}
	return &r.msg, nil
}

// WriteTo hands each chunk to w as it arrives, without copying it (io.Copy
// uses it): the upload's bytes go from the message to the hash and the
// file.
func (r *chunkReader) WriteTo(w io.Writer) (int64, error) {
	var n int64
	if len(r.buf) > 0 {
		m, err := w.Write(r.buf)
		n, r.buf = n+int64(m), nil
		if err != nil {
			return n, err
		}
	}
	for {
		msg, err := r.recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if msg.GetMetadata() != nil {
			return n, errs.InvalidArgument("metadata", "only the first message carries metadata")
		}
		m, err := w.Write(msg.GetChunk())
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		msg, err := r.recv()
		if err != nil {
			return 0, err // io.EOF at the end
		}
		if msg.GetMetadata() != nil {
			return 0, errs.InvalidArgument("metadata", "only the first message carries metadata")
		}
		r.buf = msg.GetChunk()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (s *documentServer) ListDocuments(ctx context.Context, req *vaultv1.ListDocumentsRequest) (*vaultv1.ListDocumentsResponse, error) {
	supplier, err := names.Company.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	q, err := docQuery(supplier, req.GetDocumentType(), req.GetSubject(), req.GetSubjectKind(), req.GetIncludeSuperseded())
	if err != nil {
		return nil, err
	}
	docs, next, err := s.svc.ListDocuments(ctx, caller(ctx), supplier, q, page(req.GetPageSize(), req.GetPageToken()))
	if err != nil {
		return nil, err
	}
	return &vaultv1.ListDocumentsResponse{Documents: documentsToProto(docs), NextPageToken: next}, nil
}

func docQuery(supplier, docType, subject string, kind vaultv1.DocumentSubject, history bool) (vault.DocQuery, error) {
	t, err := typeID("document_type", docType)
	if err != nil {
		return vault.DocQuery{}, err
	}
	q := vault.DocQuery{DocumentType: t, Kind: vault.SubjectKind(kind), History: history}
	if subject != "" {
		emp, ok := vault.ParseSubject(supplier, subject)
		if !ok {
			return q, errs.InvalidArgument("subject", "must be companies/%s or companies/%s/employees/{employee}", supplier, supplier)
		}
		q.Employee, q.HasSubject = emp, true
	}
	return q, nil
}

func (s *documentServer) GetDocument(ctx context.Context, req *vaultv1.GetDocumentRequest) (*vaultv1.Document, error) {
	supplier, id, err := names.Document.Parse("name", req.GetName())
	if err != nil {
		return nil, err
	}
	d, err := s.svc.GetDocument(ctx, caller(ctx), supplier, id)
	if err != nil {
		return nil, err
	}
	return documentToProto(d), nil
}

func (s *documentServer) ListDocumentVersions(ctx context.Context, req *vaultv1.ListDocumentVersionsRequest) (*vaultv1.ListDocumentVersionsResponse, error) {
	var docs []*vault.Document
	var err error
	if supplier, id, ok := names.Document.Match(req.GetName()); ok {
		docs, err = s.svc.ListVersions(ctx, caller(ctx), "", supplier, id)
	} else if customer, supplier, id, ok := names.SupplierDocument.Match(req.GetName()); ok {
		docs, err = s.svc.ListVersions(ctx, caller(ctx), customer, supplier, id)
	} else {
		return nil, badName("name", "companies/{company}/documents/{document} or companies/{company}/suppliers/{supplier}/documents/{document}")
	}
	if err != nil {
		return nil, err
	}
	return &vaultv1.ListDocumentVersionsResponse{Documents: documentsToProto(docs)}, nil
}

func (s *documentServer) ListExpiringDocuments(ctx context.Context, req *vaultv1.ListExpiringDocumentsRequest) (*vaultv1.ListExpiringDocumentsResponse, error) {
	supplier, err := names.Company.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	within := int(req.GetWithinDays())
	if within == 0 {
		within = vault.ExpiringWindowDays
	}
	docs, next, err := s.svc.ListExpiring(ctx, caller(ctx), supplier, within, vault.SubjectKind(req.GetSubjectKind()), req.GetIncludeExpired(),
		page(req.GetPageSize(), req.GetPageToken()))
	if err != nil {
		return nil, err
	}
	return &vaultv1.ListExpiringDocumentsResponse{Documents: documentsToProto(docs), NextPageToken: next}, nil
}

func (s *documentServer) ListSupplierDocuments(ctx context.Context, req *vaultv1.ListSupplierDocumentsRequest) (*vaultv1.ListSupplierDocumentsResponse, error) {
	customer, supplier, err := names.Supplier.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	q, err := docQuery(supplier, req.GetDocumentType(), req.GetSubject(), req.GetSubjectKind(), req.GetIncludeSuperseded())
	if err != nil {
		return nil, err
	}
	docs, next, err := s.svc.ListSupplierDocuments(ctx, caller(ctx), customer, supplier, q, page(req.GetPageSize(), req.GetPageToken()))
	if err != nil {
		return nil, err
	}
	return &vaultv1.ListSupplierDocumentsResponse{Documents: documentsToProto(docs), NextPageToken: next}, nil
}

// sendContent streams a download: the metadata, then the bytes.
func (s *documentServer) sendContent(d *vault.Download, send func(info *vaultv1.DocumentContentInfo, chunk []byte) error) error {
	doc := d.Document
	info := &vaultv1.DocumentContentInfo{Document: names.Document.Format(doc.Supplier, doc.ID), Version: doc.Version, ContentType: doc.ContentType,
		FileName: doc.FileName, SizeBytes: doc.Size, Sha256: doc.SHA256, RangeOffset: d.Offset, RangeLength: d.Length, NotModified: d.NotModified}
	if d.Body != nil {
		defer d.Body.Close()
	}
	if err := send(info, nil); err != nil {
		return err
	}
	if d.NotModified {
		return nil
	}
	return s.chunks.stream(d.Body, func(chunk []byte) error { return send(nil, chunk) })
}

func (s *documentServer) DownloadDocument(req *vaultv1.DownloadDocumentRequest, stream grpc.ServerStreamingServer[vaultv1.DownloadDocumentResponse]) error {
	ctx := stream.Context()
	supplier, id, err := names.Document.Parse("name", req.GetName())
	if err != nil {
		return err
	}
	d, err := s.svc.Download(ctx, caller(ctx), vault.DownloadRequest{Supplier: supplier, ID: id, Offset: req.GetReadOffset(),
		Limit: req.GetReadLimit(), IfNoneMatch: req.GetIfNoneMatch()})
	if err != nil {
		return err
	}
	return s.sendContent(d, func(info *vaultv1.DocumentContentInfo, chunk []byte) error {
		if info != nil {
			return stream.Send(&vaultv1.DownloadDocumentResponse{Payload: &vaultv1.DownloadDocumentResponse_Metadata{Metadata: info}})
		}
		return stream.Send(&vaultv1.DownloadDocumentResponse{Payload: &vaultv1.DownloadDocumentResponse_Chunk{Chunk: chunk}})
	})
}

func (s *documentServer) DownloadSupplierDocument(req *vaultv1.DownloadSupplierDocumentRequest, stream grpc.ServerStreamingServer[vaultv1.DownloadSupplierDocumentResponse]) error {
	ctx := stream.Context()
	customer, supplier, id, err := names.SupplierDocument.Parse("name", req.GetName())
	if err != nil {
		return err
	}
	d, err := s.svc.Download(ctx, caller(ctx), vault.DownloadRequest{Customer: customer, Supplier: supplier, ID: id, Offset: req.GetReadOffset(),
		Limit: req.GetReadLimit(), IfNoneMatch: req.GetIfNoneMatch()})
	if err != nil {
		return err
	}
	return s.sendContent(d, func(info *vaultv1.DocumentContentInfo, chunk []byte) error {
		if info != nil {
			return stream.Send(&vaultv1.DownloadSupplierDocumentResponse{Payload: &vaultv1.DownloadSupplierDocumentResponse_Metadata{Metadata: info}})
		}
		return stream.Send(&vaultv1.DownloadSupplierDocumentResponse{Payload: &vaultv1.DownloadSupplierDocumentResponse_Chunk{Chunk: chunk}})
	})
}

func (s *documentServer) RejectDocument(ctx context.Context, req *vaultv1.RejectDocumentRequest) (*vaultv1.Document, error) {
	customer, supplier, id, err := names.SupplierDocument.Parse("name", req.GetName())
	if err != nil {
		return nil, err
	}
	d, err := s.svc.Reject(ctx, caller(ctx), customer, supplier, id, req.GetReason())
	if err != nil {
		return nil, err
	}
	return documentToProto(d), nil
}

func (s *documentServer) RequestDocuments(ctx context.Context, req *vaultv1.RequestDocumentsRequest) (*vaultv1.RequestDocumentsResponse, error) {
	customer, supplier, err := names.Supplier.Parse("name", req.GetName())
	if err != nil {
		return nil, err
	}
	var types []string
	for _, t := range req.GetDocumentTypes() {
		id, err := typeID("document_types", t)
		if err != nil {
			return nil, err
		}
		types = append(types, id)
	}
	n, err := s.svc.RequestDocuments(ctx, caller(ctx), customer, supplier, types, req.GetMessage())
	if err != nil {
		return nil, err
	}
	return &vaultv1.RequestDocumentsResponse{NotifiedCount: int32(n)}, nil
}

func (s *documentServer) ListDocumentAccessLog(ctx context.Context, req *vaultv1.ListDocumentAccessLogRequest) (*vaultv1.ListDocumentAccessLogResponse, error) {
	supplier, id, err := names.Document.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	log, next, err := s.svc.ListAccessLog(ctx, caller(ctx), supplier, id, page(req.GetPageSize(), req.GetPageToken()))
	if err != nil {
		return nil, err
	}
	out := &vaultv1.ListDocumentAccessLogResponse{NextPageToken: next}
	for _, a := range log {
		out.Entries = append(out.Entries, &vaultv1.DocumentAccessLogEntry{Company: names.Company.Format(a.Customer), User: a.User,
			UserDisplayName: a.UserName, Document: names.Document.Format(a.Supplier, a.Document), Version: a.Version, AccessTime: timestamppb.New(a.Time)})
	}
	return out, nil
}
