package api

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/protoconv"
	"github.com/vigil/vigil/services/runtime/names"
)

type supplierServer struct {
	directoryv1.UnimplementedSupplierServiceServer
	svc *directory.Service
}

// NewSupplierServer serves SupplierService.
func NewSupplierServer(svc *directory.Service) directoryv1.SupplierServiceServer {
	return &supplierServer{svc: svc}
}

func supplierProto(customer string, s directory.Supplier) *directoryv1.Supplier {
	c := s.Company
	return &directoryv1.Supplier{
		Name: names.Supplier.Format(customer, c.ID), Company: names.Company.Format(c.ID), LegalName: c.LegalName,
		Country: c.Country, RegistrationNumber: c.RegistrationNumber, Address: protoconv.Address(c.Address),
		CreateTime: timestamppb.New(s.Relationship.CreateTime), Outcome: directoryv1.RegistrationOutcome(s.Outcome),
	}
}

func (s *supplierServer) ListSuppliers(ctx context.Context, req *directoryv1.ListSuppliersRequest) (*directoryv1.ListSuppliersResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	customer, err := names.Company.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	list, next, err := s.svc.ListSuppliers(ctx, p, customer, directory.ListFilter{NamePrefix: req.GetNamePrefix(),
		RegistrationNumber: req.GetRegistrationNumber()}, req.GetPageToken(), int(req.GetPageSize()))
	if err != nil {
		return nil, err
	}
	out := &directoryv1.ListSuppliersResponse{NextPageToken: next}
	for _, sup := range list {
		out.Suppliers = append(out.Suppliers, supplierProto(customer, sup))
	}
	return out, nil
}

func (s *supplierServer) GetSupplier(ctx context.Context, req *directoryv1.GetSupplierRequest) (*directoryv1.Supplier, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	customer, supplier, err := names.Supplier.Parse("name", req.GetName())
	if err != nil {
		return nil, err
	}
	sup, err := s.svc.GetSupplier(ctx, p, customer, supplier)
	if err != nil {
		return nil, err
	}
	return supplierProto(customer, sup), nil
}

func (s *supplierServer) CreateSupplier(ctx context.Context, req *directoryv1.CreateSupplierRequest) (*directoryv1.Supplier, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	customer, err := names.Company.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	in := req.GetSupplier()
	sup, err := s.svc.CreateSupplier(ctx, p, customer, directory.SupplierInput{
		RegistrationNumber: in.GetRegistrationNumber(), LegalName: in.GetLegalName(), Country: in.GetCountry(),
		Address: protoconv.AddressFrom(in.GetAddress()), Contact: contactFromProto(in.GetContact()),
	})
	if err != nil {
		return nil, err
	}
	return supplierProto(customer, sup), nil
}

func (s *supplierServer) DeleteSupplier(ctx context.Context, req *directoryv1.DeleteSupplierRequest) (*emptypb.Empty, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	customer, supplier, err := names.Supplier.Parse("name", req.GetName())
	if err != nil {
		return nil, err
	}
	if err := s.svc.DeleteSupplier(ctx, p, customer, supplier); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func contactProto(customer string, c directory.ContactView) *directoryv1.Contact {
	return &directoryv1.Contact{
		Name: names.Supplier.Format(customer, c.Supplier) + "/contacts/" + c.User, User: names.Member.Format(c.Supplier, c.User),
		Email: c.Contact.Email, GivenName: c.Contact.GivenName, FamilyName: c.Contact.FamilyName,
		Function: c.Contact.Function, Phone: c.Contact.Phone, Mobile: c.Contact.Mobile,
	}
}

func (s *supplierServer) ListContacts(ctx context.Context, req *directoryv1.ListContactsRequest) (*directoryv1.ListContactsResponse, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	customer, supplier, err := names.Supplier.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	list, next, err := s.svc.ListContacts(ctx, p, customer, supplier, req.GetPageToken(), int(req.GetPageSize()))
	if err != nil {
		return nil, err
	}
	out := &directoryv1.ListContactsResponse{NextPageToken: next}
	for _, c := range list {
		out.Contacts = append(out.Contacts, contactProto(customer, c))
	}
	return out, nil
}

func (s *supplierServer) CreateContact(ctx context.Context, req *directoryv1.CreateContactRequest) (*directoryv1.Contact, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	customer, supplier, err := names.Supplier.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	c, err := s.svc.CreateContact(ctx, p, customer, supplier, contactFromProto(req.GetContact()))
	if err != nil {
		return nil, err
	}
	return contactProto(customer, c), nil
}

func (s *supplierServer) ExportSuppliers(req *directoryv1.ExportSuppliersRequest, stream grpc.ServerStreamingServer[directoryv1.ExportSuppliersResponse]) error {
	ctx := stream.Context()
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	customer, err := names.Company.Parse("parent", req.GetParent())
	if err != nil {
		return err
	}
	w := &chunkWriter{
		start: func() error {
			return stream.Send(&directoryv1.ExportSuppliersResponse{Payload: &directoryv1.ExportSuppliersResponse_Metadata{
				Metadata: csvInfo("suppliers.csv")}})
		},
		send: func(b []byte) error {
			return stream.Send(&directoryv1.ExportSuppliersResponse{Payload: &directoryv1.ExportSuppliersResponse_Chunk{Chunk: b}})
		},
	}
	if err := s.svc.ExportSuppliers(ctx, p, customer, directory.ListFilter{NamePrefix: req.GetNamePrefix(),
		RegistrationNumber: req.GetRegistrationNumber()}, w); err != nil {
		return err
	}
	return w.flush()
}
