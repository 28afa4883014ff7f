package directory

import (
	"context"
	"encoding/base64"
	"errors"

	"github.com/vigil/vigil/services/runtime/errs"
)

// Page sizes of the internal lists.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Relationship reports whether supplier is in customer's "my suppliers" list.
func (s *Service) Relationship(ctx context.Context, customer, supplier string) (Relationship, bool, error) {
	rel, err := s.store.Relationship(ctx, customer, supplier)
	if errors.Is(err, ErrNotFound) {
		return Relationship{}, false, nil
	}
	if err != nil {
		return Relationship{}, false, errs.Internal(err)
	}
	return rel, true, nil
}

// ListSupplierCompanies pages through a customer's supplier company ids.
func (s *Service) ListSupplierCompanies(ctx context.Context, customer, pageToken string, pageSize int) ([]string, string, error) {
	return s.page(ctx, customer, pageToken, pageSize, s.store.Suppliers)
}

// ListCustomerCompanies pages through a supplier's customer company ids.
func (s *Service) ListCustomerCompanies(ctx context.Context, supplier, pageToken string, pageSize int) ([]string, string, error) {
	return s.page(ctx, supplier, pageToken, pageSize, s.store.Customers)
}

// ListReferences returns the supplier user ids that are references for the
// customer (R-DIR-8); none when the relationship does not exist.
func (s *Service) ListReferences(ctx context.Context, customer, supplier string) ([]string, error) {
	rel, ok, err := s.Relationship(ctx, customer, supplier)
	if err != nil || !ok {
		return nil, err
	}
	return rel.References, nil
}

type lister func(ctx context.Context, company, after string, limit int) ([]string, error)

// page runs one page of list: the token is the last id of the previous page,
// opaque to callers.
func (s *Service) page(ctx context.Context, company, pageToken string, pageSize int, list lister) ([]string, string, error) {
	switch {
	case pageSize < 0:
		return nil, "", errs.InvalidArgument("page_size", "must not be negative")
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize > MaxPageSize:
		pageSize = MaxPageSize
	}
	after := ""
	if pageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(pageToken)
		if err != nil || len(b) == 0 || !validID(string(b)) {
			return nil, "", errs.InvalidArgument("page_token", "is not a token returned by this list")
		}
		after = string(b)
	}
	ids, err := list(ctx, company, after, pageSize+1)
	if err != nil {
		return nil, "", errs.Internal(err)
	}
	next := ""
	if len(ids) > pageSize {
		ids = ids[:pageSize]
		next = base64.RawURLEncoding.EncodeToString([]byte(ids[len(ids)-1]))
	}
	return ids, next, nil
}
