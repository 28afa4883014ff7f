package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/protoconv"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/storage"
)

// RegisterSupplier implements directory.Store.
func (s *Store) RegisterSupplier(ctx context.Context, r directory.Registration) (directory.Registered, error) {
	var out directory.Registered
	err := s.update(ctx, func(t *txn) error {
		var err error
		out, err = t.register(r)
		return err
	})
	return out, err
}

// register applies one registration inside a transaction; nothing is
// written when it fails or finds the supplier already linked.
func (t *txn) register(r directory.Registration) (directory.Registered, error) {
	cust, err := getCompany(t.tx, r.Customer)
	if err != nil {
		return directory.Registered{}, err
	}
	out := directory.Registered{Outcome: directory.OutcomeLinked}
	if id := t.b(bucketCompaniesByRegistration).Get(pairKey(r.NewCompany.Country, r.NewCompany.RegistrationNumber)); id == nil {
		if err := t.createCompany(r.NewCompany); err != nil {
			return directory.Registered{}, err
		}
		out.Supplier, out.Outcome = r.NewCompany, directory.OutcomeCreated
	} else {
		if out.Supplier, err = getCompany(t.tx, string(id)); err != nil {
			return directory.Registered{}, err
		}
		if out.Supplier.ID == cust.ID {
			return directory.Registered{}, directory.ErrSelfLink
		}
		if rel, err := getRelationship(t.tx, cust.ID, out.Supplier.ID); err == nil {
			out.Outcome, out.Relationship = directory.OutcomeAlreadyLinked, rel
			return out, nil
		} else if !errors.Is(err, directory.ErrNotFound) {
			return directory.Registered{}, err
		}
		if r.Accept != nil {
			if err := r.Accept(out.Supplier); err != nil {
				return directory.Registered{}, err
			}
		}
	}
	out.Relationship = directory.Relationship{Customer: cust.ID, Supplier: out.Supplier.ID, CreateTime: r.Time}
	if err := t.link(cust, out.Supplier, out.Relationship); err != nil {
		return directory.Registered{}, err
	}
	if r.Contact != nil {
		pc := *r.Contact
		pc.Supplier = out.Supplier.ID
		pc.SyncFirst = out.Outcome == directory.OutcomeCreated
		if out.PendingContact, err = t.queueContact(pc); err != nil {
			return directory.Registered{}, err
		}
	}
	return out, nil
}

// link stores a new relationship with its indexes and events.
func (t *txn) link(cust, sup directory.Company, rel directory.Relationship) error {
	if err := storage.PutProto(t.tx, bucketSuppliersByCustomer, pairKey(cust.ID, sup.ID), protoconv.Relationship(rel)); err != nil {
		return err
	}
	if err := t.b(bucketCustomersBySupplier).Put(pairKey(sup.ID, cust.ID), []byte{}); err != nil {
		return err
	}
	if err := t.indexRelationship(cust, sup, rel.CreateTime); err != nil {
		return err
	}
	return t.emit(directory.RelationshipEvents(feed.TypeSupplierLinked, cust.ID, sup.ID, rel.CreateTime)...)
}

// indexRelationship writes a relationship's name and number index entries,
// the customer's with the supplier's list record.
func (t *txn) indexRelationship(cust, sup directory.Company, created time.Time) error {
	record, err := listRecord(sup, created)
	if err != nil {
		return err
	}
	for _, e := range []struct {
		b        storage.Bucket
		key, val []byte
	}{
		{bucketSuppliersByName, nameKey(cust.ID, directory.FoldName(sup.LegalName), sup.ID), record},
		{bucketCustomersByName, nameKey(sup.ID, directory.FoldName(cust.LegalName), cust.ID), []byte{}},
		{bucketSuppliersByNumber, nameKey(cust.ID, sup.RegistrationNumber, sup.ID), []byte{}},
		{bucketCustomersByNumber, nameKey(sup.ID, cust.RegistrationNumber, cust.ID), []byte{}},
	} {
		if err := t.b(e.b).Put(e.key, e.val); err != nil {
			return err
		}
	}
	return nil
}

// listRecord is a supplier as its customers' lists show it (the
// directoryv1.Supplier fields of a list page but its names, which the key
// gives), stored as the value of its suppliers_by_name entries: a page of
// a customer's suppliers reads one value per supplier, in key order,
// instead of looking up the company and the relationship of each (issue 8's
// benchmark: 50,000 suppliers, pages of 100). Written when the
// relationship is created and whenever the company changes what it holds.
func listRecord(sup directory.Company, created time.Time) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(&directoryv1.Supplier{
		LegalName: sup.LegalName, Country: sup.Country, RegistrationNumber: sup.RegistrationNumber,
		Address: protoconv.Address(sup.Address), CreateTime: timestamppb.New(created),
	})
}

// decodeListRecord reads a list record of customer's supplier.
func decodeListRecord(customer, supplier string, v []byte) (directory.Related, error) {
	var m directoryv1.Supplier
	if err := proto.Unmarshal(v, &m); err != nil {
		return directory.Related{}, fmt.Errorf("decode %s/%s/%s: %w", bucketSuppliersByName, customer, supplier, err)
	}
	created := m.GetCreateTime().AsTime()
	return directory.Related{
		Company: directory.Company{ID: supplier, LegalName: m.GetLegalName(), Country: m.GetCountry(),
			RegistrationNumber: m.GetRegistrationNumber(), Address: protoconv.AddressFrom(m.GetAddress())},
		Relationship: directory.Relationship{Customer: customer, Supplier: supplier, CreateTime: created},
	}, nil
}

// LinkSupplier implements directory.Store.
func (s *Store) LinkSupplier(ctx context.Context, rel directory.Relationship) (bool, error) {
	created := false
	err := s.update(ctx, func(t *txn) error {
		cust, err := getCompany(t.tx, rel.Customer)
		if err != nil {
			return err
		}
		sup, err := getCompany(t.tx, rel.Supplier)
		if err != nil {
			return err
		}
		if rel.Customer == rel.Supplier {
			return directory.ErrSelfLink
		}
		if t.b(bucketSuppliersByCustomer).Get(pairKey(rel.Customer, rel.Supplier)) != nil {
			return nil
		}
		created = true
		return t.link(cust, sup, rel)
	})
	return created, err
}

// Unlink implements directory.Store.
func (s *Store) Unlink(ctx context.Context, customer, supplier string, now time.Time) error {
	return s.update(ctx, func(t *txn) error {
		key := pairKey(customer, supplier)
		if t.b(bucketSuppliersByCustomer).Get(key) == nil {
			return directory.ErrNotFound
		}
		cust, err := getCompany(t.tx, customer)
		if err != nil {
			return err
		}
		sup, err := getCompany(t.tx, supplier)
		if err != nil {
			return err
		}
		// The supplier's employees leave the customer's projects first.
		prefix := prefixKey(customer, supplier)
		var ends []directory.Assignment
		cur := t.b(bucketAssignmentsByPair).Cursor()
		for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
			project, employee, ok := strings.Cut(string(k[len(prefix):]), "/")
			if !ok {
				return fmt.Errorf("bad assignment key %q", k)
			}
			ends = append(ends, directory.Assignment{Customer: customer, Project: project, Supplier: supplier, Employee: employee})
		}
		for _, a := range ends {
			if err := t.unassign(a, now); err != nil {
				return err
			}
		}
		for _, e := range []struct {
			b   storage.Bucket
			key []byte
		}{
			{bucketSuppliersByCustomer, key},
			{bucketCustomersBySupplier, pairKey(supplier, customer)},
			{bucketSuppliersByName, nameKey(customer, directory.FoldName(sup.LegalName), supplier)},
			{bucketCustomersByName, nameKey(supplier, directory.FoldName(cust.LegalName), customer)},
			{bucketSuppliersByNumber, nameKey(customer, sup.RegistrationNumber, supplier)},
			{bucketCustomersByNumber, nameKey(supplier, cust.RegistrationNumber, customer)},
		} {
			if err := t.b(e.b).Delete(e.key); err != nil {
				return err
			}
		}
		return t.emit(directory.RelationshipEvents(feed.TypeSupplierUnlinked, customer, supplier, now)...)
	})
}

// Relationship implements directory.Store.
func (s *Store) Relationship(ctx context.Context, customer, supplier string) (directory.Relationship, error) {
	var out directory.Relationship
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = getRelationship(tx, customer, supplier)
		return err
	})
	return out, err
}

func getRelationship(tx *bolt.Tx, customer, supplier string) (directory.Relationship, error) {
	var m directoryv1.Customer
	if err := getProto(tx, bucketSuppliersByCustomer, pairKey(customer, supplier), &m); err != nil {
		return directory.Relationship{}, err
	}
	return protoconv.RelationshipFrom(customer, supplier, &m), nil
}

func putRelationship(tx *bolt.Tx, rel directory.Relationship) error {
	return storage.PutProto(tx, bucketSuppliersByCustomer, pairKey(rel.Customer, rel.Supplier), protoconv.Relationship(rel))
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
		return scan(tx.Bucket(b), prefixKey(first), prefixKey(first), after, limit, func(suffix string, _ []byte) error {
			out = append(out, suffix)
			return nil
		})
	})
	return out, err
}

// scan visits, in key order, up to limit keys of b that start with filter,
// after base+after (the cursor is the key's suffix after base, which filter
// starts with); visit gets the suffix and the value (valid only in the
// transaction).
func scan(b *bolt.Bucket, base, filter []byte, after string, limit int, visit func(suffix string, v []byte) error) error {
	start := filter
	if after != "" {
		if c := append(slices.Clip(base), after...); bytes.Compare(c, start) > 0 {
			start = c
		}
	}
	n := 0
	cur := b.Cursor()
	for k, v := cur.Seek(start); k != nil && bytes.HasPrefix(k, filter) && n < limit; k, v = cur.Next() {
		suffix := string(k[len(base):])
		if after != "" && suffix <= after {
			continue
		}
		if err := visit(suffix, v); err != nil {
			return err
		}
		n++
	}
	return nil
}

// ListSuppliers implements directory.Store.
func (s *Store) ListSuppliers(ctx context.Context, customer string, q directory.ListQuery) ([]directory.Related, error) {
	return s.listRelated(ctx, customer, q, bucketSuppliersByName, bucketSuppliersByNumber, func(other string) (string, string) { return customer, other })
}

// ListCustomers implements directory.Store.
func (s *Store) ListCustomers(ctx context.Context, supplier string, q directory.ListQuery) ([]directory.Related, error) {
	return s.listRelated(ctx, supplier, q, bucketCustomersByName, bucketCustomersByNumber, func(other string) (string, string) { return other, supplier })
}

// listRelated pages a name-ordered list of owner's relationships; pair
// says which of (owner, other) is the customer and the supplier.
func (s *Store) listRelated(ctx context.Context, owner string, q directory.ListQuery, names, numbers storage.Bucket, pair func(other string) (customer, supplier string)) ([]directory.Related, error) {
	out := make([]directory.Related, 0, max(0, min(q.Limit, 1000)))
	err := s.view(ctx, func(tx *bolt.Tx) error {
		add := func(cursor, other string) (bool, error) {
			c, err := getCompany(tx, other)
			if err != nil {
				return false, err
			}
			if q.NamePrefix != "" && !strings.HasPrefix(directory.FoldName(c.LegalName), q.NamePrefix) {
				return false, nil
			}
			customer, supplier := pair(other)
			rel, err := getRelationship(tx, customer, supplier)
			if err != nil {
				return false, err
			}
			out = append(out, directory.Related{Company: c, Relationship: rel, Cursor: cursor})
			return true, nil
		}
		base := prefixKey(owner)
		if q.Number != "" {
			// A registration number names one company, or a few in
			// several countries: read them all and order them by name.
			var ids []string
			if err := scan(tx.Bucket(numbers), base, append(slices.Clip(base), q.Number+"\x00"...), "", 100, func(suffix string, _ []byte) error {
				_, id, _ := strings.Cut(suffix, "\x00")
				ids = append(ids, id)
				return nil
			}); err != nil {
				return err
			}
			var all []directory.Related
			for _, id := range ids {
				c, err := getCompany(tx, id)
				if err != nil {
					return err
				}
				all = append(all, directory.Related{Company: c, Cursor: directory.FoldName(c.LegalName) + "\x00" + id})
			}
			sort.Slice(all, func(i, j int) bool { return all[i].Cursor < all[j].Cursor })
			for _, r := range all {
				if len(out) >= q.Limit {
					break
				}
				if q.After != "" && r.Cursor <= q.After {
					continue
				}
				if _, err := add(r.Cursor, r.Company.ID); err != nil {
					return err
				}
			}
			return nil
		}
		return scan(tx.Bucket(names), base, append(slices.Clip(base), q.NamePrefix...), q.After, q.Limit, func(suffix string, v []byte) error {
			i := strings.LastIndexByte(suffix, 0)
			if i < 0 {
				return fmt.Errorf("bad name index key %q", suffix)
			}
			if len(v) > 0 { // a supplier's list record: all a page shows
				customer, supplier := pair(suffix[i+1:])
				r, err := decodeListRecord(customer, supplier, v)
				if err != nil {
					return err
				}
				r.Cursor = suffix
				out = append(out, r)
				return nil
			}
			_, err := add(suffix, suffix[i+1:])
			return err
		})
	})
	return out, err
}

// AddReference implements directory.Store.
func (s *Store) AddReference(ctx context.Context, customer, supplier, user string) (directory.Relationship, bool, error) {
	var out directory.Relationship
	added := false
	err := s.update(ctx, func(t *txn) error {
		var err error
		out, added, err = t.addReference(customer, supplier, user)
		return err
	})
	return out, added, err
}

func (t *txn) addReference(customer, supplier, user string) (directory.Relationship, bool, error) {
	rel, err := getRelationship(t.tx, customer, supplier)
	if err != nil {
		return rel, false, err
	}
	if slices.Contains(rel.References, user) {
		return rel, false, nil
	}
	if len(rel.References) >= directory.MaxReferences {
		return rel, false, directory.ErrTooManyReferences
	}
	rel.References = append(rel.References, user)
	return rel, true, putRelationship(t.tx, rel)
}

// SetReferences implements directory.Store.
func (s *Store) SetReferences(ctx context.Context, customer, supplier string, users []string) (directory.Relationship, error) {
	var out directory.Relationship
	err := s.update(ctx, func(t *txn) error {
		rel, err := getRelationship(t.tx, customer, supplier)
		if err != nil {
			return err
		}
		if len(users) > directory.MaxReferences {
			return directory.ErrTooManyReferences
		}
		rel.References = slices.Clone(users)
		out = rel
		return putRelationship(t.tx, rel)
	})
	return out, err
}
