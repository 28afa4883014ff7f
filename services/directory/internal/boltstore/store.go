package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/protoconv"
	"github.com/vigil/vigil/services/runtime/storage"
)

// Store implements directory.Store on one bbolt file.
type Store struct {
	db *bolt.DB
}

var _ directory.Store = (*Store)(nil)

// Open opens (creating if needed) the store at path.
func Open(path string) (*Store, error) {
	db, err := storage.OpenBolt(path, allBuckets...)
	if err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// DB is the underlying database, for tests that write what later issues will.
func (s *Store) DB() *bolt.DB { return s.db }

func (s *Store) view(ctx context.Context, f func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(f)
}

func (s *Store) update(ctx context.Context, f func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(f)
}

// CreateCompany implements directory.Store.
func (s *Store) CreateCompany(ctx context.Context, c directory.Company, requestID string) (directory.Company, error) {
	var out directory.Company
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if requestID != "" {
			if id := tx.Bucket(bucketCreateRequests).Get([]byte(requestID)); id != nil {
				prev, err := getCompany(tx, string(id))
				if err == nil {
					out = prev
					return nil
				}
				if !errors.Is(err, directory.ErrNotFound) {
					return err
				}
				// The first call's company was deleted (sign-up's
				// compensation): this retry creates a new one.
			}
		}
		regKey := pairKey(c.Country, c.RegistrationNumber)
		idx := tx.Bucket(bucketCompaniesByRegistration)
		if idx.Get(regKey) != nil {
			return directory.ErrRegistrationTaken
		}
		if tx.Bucket(bucketCompanies).Get([]byte(c.ID)) != nil {
			return fmt.Errorf("company id %s already used", c.ID)
		}
		if err := putCompany(tx, c); err != nil {
			return err
		}
		if err := idx.Put(regKey, []byte(c.ID)); err != nil {
			return err
		}
		if requestID != "" {
			if err := tx.Bucket(bucketCreateRequests).Put([]byte(requestID), []byte(c.ID)); err != nil {
				return err
			}
		}
		out = c
		return nil
	})
	return out, err
}

// Company implements directory.Store.
func (s *Store) Company(ctx context.Context, id string) (directory.Company, error) {
	var out directory.Company
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = getCompany(tx, id)
		return err
	})
	return out, err
}

// CompanyByRegistration implements directory.Store.
func (s *Store) CompanyByRegistration(ctx context.Context, country, number string) (directory.Company, error) {
	var out directory.Company
	err := s.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketCompaniesByRegistration).Get(pairKey(country, number))
		if id == nil {
			return directory.ErrNotFound
		}
		var err error
		out, err = getCompany(tx, string(id))
		return err
	})
	return out, err
}

type txReader struct{ tx *bolt.Tx }

func (r txReader) Company(id string) (directory.Company, error) { return getCompany(r.tx, id) }

// UpdateCompany implements directory.Store.
func (s *Store) UpdateCompany(ctx context.Context, id string, mutate func(r directory.Reader, c *directory.Company) error) (directory.Company, error) {
	var out directory.Company
	err := s.update(ctx, func(tx *bolt.Tx) error {
		c, err := getCompany(tx, id)
		if err != nil {
			return err
		}
		before := c
		if err := mutate(txReader{tx}, &c); err != nil {
			return err
		}
		if c.ID != before.ID || c.Country != before.Country || c.RegistrationNumber != before.RegistrationNumber {
			return errors.New("update must not change a company's id, country or registration number")
		}
		if err := putCompany(tx, c); err != nil {
			return err
		}
		out = c
		return nil
	})
	return out, err
}

// DeleteCompany implements directory.Store.
func (s *Store) DeleteCompany(ctx context.Context, id string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		c, err := getCompany(tx, id)
		if err != nil {
			return err
		}
		for _, b := range []storage.Bucket{bucketSuppliersByCustomer, bucketCustomersBySupplier, bucketEmployees, bucketProjects} {
			if hasPrefix(tx.Bucket(b), prefixKey(id)) {
				return directory.ErrInUse
			}
		}
		// A company that is some other company's group owner keeps its
		// members' parent link valid: refuse, too.
		if err := tx.Bucket(bucketCompanies).ForEach(func(k, v []byte) error {
			var m directoryv1.Company
			if err := decode(v, &m, k); err != nil {
				return err
			}
			if m.GetParent() == directory.Name(id) {
				return directory.ErrInUse
			}
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bucketCompanies).Delete([]byte(id)); err != nil {
			return err
		}
		// The index entry goes with the record; create-request entries that
		// point to it are left and read as absent (see CreateCompany).
		return tx.Bucket(bucketCompaniesByRegistration).Delete(pairKey(c.Country, c.RegistrationNumber))
	})
}

// LinkSupplier implements directory.Store.
func (s *Store) LinkSupplier(ctx context.Context, rel directory.Relationship) (bool, error) {
	created := false
	err := s.update(ctx, func(tx *bolt.Tx) error {
		for _, id := range []string{rel.Customer, rel.Supplier} {
			if tx.Bucket(bucketCompanies).Get([]byte(id)) == nil {
				return directory.ErrNotFound
			}
		}
		if rel.Customer == rel.Supplier {
			return errors.New("a company cannot be its own supplier")
		}
		key := pairKey(rel.Customer, rel.Supplier)
		if tx.Bucket(bucketSuppliersByCustomer).Get(key) != nil {
			return nil
		}
		if err := storage.PutProto(tx, bucketSuppliersByCustomer, key, relationshipToProto(rel)); err != nil {
			return err
		}
		created = true
		return tx.Bucket(bucketCustomersBySupplier).Put(pairKey(rel.Supplier, rel.Customer), []byte{})
	})
	return created, err
}

// Relationship implements directory.Store.
func (s *Store) Relationship(ctx context.Context, customer, supplier string) (directory.Relationship, error) {
	var out directory.Relationship
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var m directoryv1.Customer
		err := storage.GetProto(tx, bucketSuppliersByCustomer, pairKey(customer, supplier), &m)
		if errors.Is(err, storage.ErrNotFound) {
			return directory.ErrNotFound
		}
		if err != nil {
			return err
		}
		out = relationshipFromProto(customer, supplier, &m)
		return nil
	})
	return out, err
}

// Suppliers implements directory.Store.
func (s *Store) Suppliers(ctx context.Context, customer, after string, limit int) ([]string, error) {
	return s.listSecond(ctx, bucketSuppliersByCustomer, customer, after, limit)
}

// Customers implements directory.Store.
func (s *Store) Customers(ctx context.Context, supplier, after string, limit int) ([]string, error) {
	return s.listSecond(ctx, bucketCustomersBySupplier, supplier, after, limit)
}

// listSecond lists the second ids of the {first}/{second} keys of b, in
// order, after `after`.
func (s *Store) listSecond(ctx context.Context, b storage.Bucket, first, after string, limit int) ([]string, error) {
	var out []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		prefix := prefixKey(first)
		cur := tx.Bucket(b).Cursor()
		start := prefix
		if after != "" {
			start = pairKey(first, after)
		}
		for k, _ := cur.Seek(start); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = cur.Next() {
			id := string(k[len(prefix):])
			if id == after {
				continue
			}
			out = append(out, id)
		}
		return nil
	})
	return out, err
}

func hasPrefix(b *bolt.Bucket, prefix []byte) bool {
	k, _ := b.Cursor().Seek(prefix)
	return k != nil && bytes.HasPrefix(k, prefix)
}

func getCompany(tx *bolt.Tx, id string) (directory.Company, error) {
	var m directoryv1.Company
	err := storage.GetProto(tx, bucketCompanies, []byte(id), &m)
	if errors.Is(err, storage.ErrNotFound) {
		return directory.Company{}, directory.ErrNotFound
	}
	if err != nil {
		return directory.Company{}, err
	}
	return companyFromProto(&m)
}

func putCompany(tx *bolt.Tx, c directory.Company) error {
	return storage.PutProto(tx, bucketCompanies, []byte(c.ID), protoconv.Company(c))
}

func decode(v []byte, m *directoryv1.Company, key []byte) error {
	if err := proto.Unmarshal(v, m); err != nil {
		return fmt.Errorf("decode %s/%s: %w", bucketCompanies, key, err)
	}
	return nil
}

func companyFromProto(m *directoryv1.Company) (directory.Company, error) {
	id, err := directory.ParseName("name", m.GetName())
	if err != nil {
		return directory.Company{}, fmt.Errorf("stored company name %q: %w", m.GetName(), err)
	}
	c := directory.Company{
		ID:                 id,
		LegalName:          m.GetLegalName(),
		Kind:               directory.Kind(m.GetKind()),
		Country:            m.GetCountry(),
		RegistrationNumber: m.GetRegistrationNumber(),
		RequireTwoFactor:   m.GetRequireTwoFactor(),
		TimeZone:           m.GetTimeZone(),
		Language:           m.GetLanguage(),
		CreateTime:         m.GetCreateTime().AsTime(),
		UpdateTime:         m.GetUpdateTime().AsTime(),
	}
	if a := m.GetAddress(); a != nil {
		c.Address = directory.Address{Lines: a.GetLines(), PostalCode: a.GetPostalCode(), City: a.GetCity(), Country: a.GetCountry()}
	}
	if p := m.GetParent(); p != "" {
		if c.Parent, err = directory.ParseName("parent", p); err != nil {
			return directory.Company{}, fmt.Errorf("stored company parent %q: %w", p, err)
		}
	}
	return c, nil
}

// relationshipToProto stores a relationship as the supplier's view of its
// customer (directoryv1.Customer): name companies/{supplier}/customers/{customer}.
func relationshipToProto(rel directory.Relationship) *directoryv1.Customer {
	refs := make([]string, len(rel.References))
	for i, u := range rel.References {
		refs[i] = directory.Name(rel.Supplier) + "/users/" + u
	}
	return &directoryv1.Customer{
		Name:       directory.Name(rel.Supplier) + "/customers/" + rel.Customer,
		Company:    directory.Name(rel.Customer),
		References: refs,
		CreateTime: timestamppb.New(rel.CreateTime),
	}
}

func relationshipFromProto(customer, supplier string, m *directoryv1.Customer) directory.Relationship {
	prefix := directory.Name(supplier) + "/users/"
	var refs []string
	for _, r := range m.GetReferences() {
		if len(r) > len(prefix) && r[:len(prefix)] == prefix {
			refs = append(refs, r[len(prefix):])
		}
	}
	return directory.Relationship{Customer: customer, Supplier: supplier, References: refs, CreateTime: m.GetCreateTime().AsTime()}
}
