package directory

import (
	"context"
	"errors"

	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/runtime/pagetoken"
)

// Page sizes of the lists.
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

// page runs one page of an id-ordered list: the token is the last id of
// the previous page, opaque to callers.
func (s *Service) page(ctx context.Context, company, pageToken string, pageSize int, list lister) ([]string, string, error) {
	size, err := pageSizeOf(pageSize, DefaultPageSize, MaxPageSize)
	if err != nil {
		return nil, "", err
	}
	after, err := idToken(pageToken)
	if err != nil {
		return nil, "", err
	}
	ids, err := list(ctx, company, after, size+1)
	if err != nil {
		return nil, "", errs.Internal(err)
	}
	ids, next := pageOf(ids, size, func(i int) string { return ids[i] })
	return ids, next, nil
}

// pageSizeOf applies a list's default and bound to a requested page size.
func pageSizeOf(size, def, max int) (int, error) {
	switch {
	case size < 0:
		return 0, errs.InvalidArgument("page_size", "must not be negative")
	case size == 0:
		return def, nil
	case size > max:
		return max, nil
	}
	return size, nil
}

// pageOf keeps the first size items of a list read with a limit of size+1
// and returns the token of the page after them: "" when the list had no
// more; else the cursor of the last item kept (cursor(i) is item i's).
func pageOf[T any](items []T, size int, cursor func(i int) string) ([]T, string) {
	if len(items) <= size {
		return items, ""
	}
	return items[:size], encodeToken(cursor(size - 1))
}

// encodeToken makes a list cursor an opaque page token (runtime/pagetoken;
// directory's lists do not bind their tokens to their filters).
func encodeToken(cursor string) string { return pagetoken.Encode("", cursor) }

// cursorToken reads a page token made by encodeToken.
func cursorToken(token string) (string, error) { return pagetoken.Cursor(token, "") }

// idToken reads a page token whose cursor is an id.
func idToken(token string) (string, error) {
	c, err := cursorToken(token)
	if err != nil || c == "" {
		return c, err
	}
	if !names.ValidID(c) {
		return "", pagetoken.Invalid()
	}
	return c, nil
}
