package api

import (
	"context"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/vault/internal/vault"
)

type typeServer struct {
	vaultv1.UnimplementedDocumentTypeServiceServer
	svc *vault.Service
}

func (s *typeServer) ListDocumentTypes(ctx context.Context, req *vaultv1.ListDocumentTypesRequest) (*vaultv1.ListDocumentTypesResponse, error) {
	f := vault.TypeFilter{Subject: vault.SubjectKind(req.GetSubject()), Category: vault.Category(req.GetCategory())}
	if req.GetCompany() != "" {
		id, err := names.Company.Parse("company", req.GetCompany())
		if err != nil {
			return nil, err
		}
		f.Company = id
	}
	types, next, err := s.svc.ListDocumentTypes(ctx, caller(ctx), f, page(req.GetPageSize(), req.GetPageToken()))
	if err != nil {
		return nil, err
	}
	out := &vaultv1.ListDocumentTypesResponse{NextPageToken: next}
	for _, t := range types {
		out.DocumentTypes = append(out.DocumentTypes, typeToProto(t))
	}
	return out, nil
}

// typeFromProto reads a type to create: display_name and description are
// the English text; translations add or replace languages.
func typeFromProto(in *vaultv1.DocumentType, id string) vault.DocumentType {
	t := vault.DocumentType{ID: id, Subject: vault.SubjectKind(in.GetSubject()), Category: vault.Category(in.GetCategory()),
		DefaultValidityDays: in.GetDefaultValidityDays(),
		Texts:               map[string]vault.Text{"en": {Name: in.GetDisplayName(), Description: in.GetDescription()}}}
	for lang, x := range in.GetTranslations() {
		if x.GetDisplayName() != "" {
			t.Texts[lang] = vault.Text{Name: x.GetDisplayName(), Description: x.GetDescription()}
		}
	}
	if en, ok := in.GetTranslations()["en"]; ok && en.GetDisplayName() != "" && in.GetDisplayName() != "" {
		t.Texts["en"] = vault.Text{Name: in.GetDisplayName(), Description: in.GetDescription()}
	}
	return t
}

func (s *typeServer) CreateDocumentType(ctx context.Context, req *vaultv1.CreateDocumentTypeRequest) (*vaultv1.DocumentType, error) {
	customer, err := names.Company.Parse("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	t, err := s.svc.CreateDocumentType(ctx, caller(ctx), customer, typeFromProto(req.GetDocumentType(), req.GetDocumentTypeId()))
	if err != nil {
		return nil, err
	}
	return typeToProto(t), nil
}

func (s *typeServer) CreateCatalogDocumentType(ctx context.Context, req *vaultv1.CreateCatalogDocumentTypeRequest) (*vaultv1.DocumentType, error) {
	t, err := s.svc.CreateCatalogDocumentType(ctx, caller(ctx), typeFromProto(req.GetDocumentType(), req.GetDocumentTypeId()))
	if err != nil {
		return nil, err
	}
	return typeToProto(t), nil
}
