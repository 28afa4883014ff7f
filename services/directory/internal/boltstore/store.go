package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/protoconv"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/storage"
)

// Source names directory's event log.
const Source = "directory"

// Store implements directory.Store on one bbolt file.
type Store struct {
	db     *bolt.DB
	events storage.EventLog

	mu     sync.RWMutex
	onWake func()
}

var _ directory.Store = (*Store)(nil)

// Open opens (creating if needed) the store at path, migrating an older
// layout.
func Open(path string) (*Store, error) {
	db, err := storage.OpenBolt(path, allBuckets...)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, events: storage.EventLog{Bucket: bucketEvents, Source: Source}}
	if err := s.migrate(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// DB is the underlying database, for tests.
func (s *Store) DB() *bolt.DB { return s.db }

// OnEvents sets what runs after a transaction that appended events commits
// (the feed server's Wake).
func (s *Store) OnEvents(f func()) {
	s.mu.Lock()
	s.onWake = f
	s.mu.Unlock()
}

// txn is one write transaction and the events it appended.
type txn struct {
	tx     *bolt.Tx
	log    storage.EventLog
	events int
}

// emit appends events in this transaction.
func (t *txn) emit(evs ...feed.Event) error {
	for i := range evs {
		if err := t.log.Append(t.tx, &evs[i]); err != nil {
			return err
		}
		t.events++
	}
	return nil
}

func (t *txn) b(name storage.Bucket) *bolt.Bucket { return t.tx.Bucket(name) }

func (s *Store) view(ctx context.Context, f func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(f)
}

func (s *Store) update(ctx context.Context, f func(t *txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := &txn{log: s.events}
	err := s.db.Update(func(tx *bolt.Tx) error {
		t.tx, t.events = tx, 0
		return f(t)
	})
	if err == nil && t.events > 0 {
		s.mu.RLock()
		wake := s.onWake
		s.mu.RUnlock()
		if wake != nil {
			wake()
		}
	}
	return err
}

// migrate brings a file written by an earlier version to schemaVersion
// (at start-up, never on a request path): version 2 added the group and
// name/number indexes, built here once from the records; version 3 keeps
// a list record in each suppliers_by_name entry.
func (s *Store) migrate() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		version := storage.GetU64(tx, bucketMeta, []byte("schema"))
		switch {
		case version >= schemaVersion:
			return nil
		case version == 2:
			if err := fillListRecords(tx); err != nil {
				return err
			}
			return storage.PutU64(tx, bucketMeta, []byte("schema"), schemaVersion)
		}
		t := &txn{tx: tx, log: s.events}
		if err := tx.Bucket(bucketCompanies).ForEach(func(k, v []byte) error {
			c, err := decodeCompany(k, v)
			if err != nil || c.Parent == "" {
				return err
			}
			return tx.Bucket(bucketCompaniesByParent).Put(pairKey(c.Parent, c.ID), []byte{})
		}); err != nil {
			return err
		}
		var rels [][2]string
		if err := tx.Bucket(bucketSuppliersByCustomer).ForEach(func(k, _ []byte) error {
			c, sup, ok := bytes.Cut(k, []byte("/"))
			if ok {
				rels = append(rels, [2]string{string(c), string(sup)})
			}
			return nil
		}); err != nil {
			return err
		}
		for _, r := range rels {
			cust, err := getCompany(tx, r[0])
			if err != nil {
				return err
			}
			sup, err := getCompany(tx, r[1])
			if err != nil {
				return err
			}
			rel, err := getRelationship(tx, r[0], r[1])
			if err != nil {
				return err
			}
			if err := t.indexRelationship(cust, sup, rel.CreateTime); err != nil {
				return err
			}
		}
		return storage.PutU64(tx, bucketMeta, []byte("schema"), schemaVersion)
	})
}

// CreateCompany implements directory.Store.
func (s *Store) CreateCompany(ctx context.Context, c directory.Company, requestID string) (directory.Company, error) {
	var out directory.Company
	err := s.update(ctx, func(t *txn) error {
		if requestID != "" {
			if id := t.b(bucketCreateRequests).Get([]byte(requestID)); id != nil {
				prev, err := getCompany(t.tx, string(id))
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
		if err := t.createCompany(c); err != nil {
			return err
		}
		if requestID != "" {
			if err := t.b(bucketCreateRequests).Put([]byte(requestID), []byte(c.ID)); err != nil {
				return err
			}
		}
		out = c
		return nil
	})
	return out, err
}

// createCompany stores a new company with its unique registration index.
func (t *txn) createCompany(c directory.Company) error {
	regKey := pairKey(c.Country, c.RegistrationNumber)
	idx := t.b(bucketCompaniesByRegistration)
	if idx.Get(regKey) != nil {
		return directory.ErrRegistrationTaken
	}
	if t.b(bucketCompanies).Get([]byte(c.ID)) != nil {
		return fmt.Errorf("company id %s already used", c.ID)
	}
	if err := putCompany(t.tx, c); err != nil {
		return err
	}
	if c.Parent != "" {
		if err := t.b(bucketCompaniesByParent).Put(pairKey(c.Parent, c.ID), []byte{}); err != nil {
			return err
		}
	}
	return idx.Put(regKey, []byte(c.ID))
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

// Companies implements directory.Store.
func (s *Store) Companies(ctx context.Context, ids []string) ([]directory.Company, error) {
	var out []directory.Company
	err := s.view(ctx, func(tx *bolt.Tx) error {
		for _, id := range ids {
			c, err := getCompany(tx, id)
			if errors.Is(err, directory.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

// ListCompanies implements directory.Store.
func (s *Store) ListCompanies(ctx context.Context, after string, limit int) ([]directory.Company, error) {
	var out []directory.Company
	err := s.view(ctx, func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketCompanies).Cursor()
		k, v := cur.First()
		if after != "" {
			k, v = cur.Seek([]byte(after))
		}
		for ; k != nil && len(out) < limit; k, v = cur.Next() {
			if string(k) == after {
				continue
			}
			c, err := decodeCompany(k, v)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
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
func (s *Store) UpdateCompany(ctx context.Context, id string, mutate func(r directory.Reader, c *directory.Company) ([]feed.Event, error)) (directory.Company, error) {
	var out directory.Company
	err := s.update(ctx, func(t *txn) error {
		c, err := getCompany(t.tx, id)
		if err != nil {
			return err
		}
		before := c
		before.Address.Lines = append([]string(nil), c.Address.Lines...)
		evs, err := mutate(txReader{t.tx}, &c)
		if err != nil {
			return err
		}
		if c.ID != before.ID || c.Country != before.Country || c.RegistrationNumber != before.RegistrationNumber {
			return errors.New("update must not change a company's id, country or registration number")
		}
		if err := putCompany(t.tx, c); err != nil {
			return err
		}
		if c.Parent != before.Parent {
			if before.Parent != "" {
				if err := t.b(bucketCompaniesByParent).Delete(pairKey(before.Parent, id)); err != nil {
					return err
				}
			}
			if c.Parent != "" {
				if err := t.b(bucketCompaniesByParent).Put(pairKey(c.Parent, id), []byte{}); err != nil {
					return err
				}
			}
		}
		if err := t.relist(before, c); err != nil {
			return err
		}
		out = c
		return t.emit(evs...)
	})
	return out, err
}

// relist keeps the lists a company is in current after an update
// (bounded by its relationships): renamed, it moves in its customers'
// lists of suppliers and in its suppliers' lists of customers; its list
// record (name, address) is rewritten in its customers' lists.
func (t *txn) relist(before, after directory.Company) error {
	old, now := directory.FoldName(before.LegalName), directory.FoldName(after.LegalName)
	if old == now && before.LegalName == after.LegalName && slices.Equal(before.Address.Lines, after.Address.Lines) &&
		before.Address.PostalCode == after.Address.PostalCode && before.Address.City == after.Address.City &&
		before.Address.Country == after.Address.Country {
		return nil
	}
	id := after.ID
	// As a supplier: its customers' lists of suppliers, with its record.
	customers, err := secondIDs(t.b(bucketCustomersBySupplier), id)
	if err != nil {
		return err
	}
	names := t.b(bucketSuppliersByName)
	for _, customer := range customers {
		rel, err := getRelationship(t.tx, customer, id)
		if err != nil {
			return err
		}
		record, err := listRecord(after, rel.CreateTime)
		if err != nil {
			return err
		}
		if err := names.Delete(nameKey(customer, old, id)); err != nil {
			return err
		}
		if err := names.Put(nameKey(customer, now, id), record); err != nil {
			return err
		}
	}
	if old == now {
		return nil
	}
	// As a customer: its suppliers' lists of customers.
	suppliers, err := secondIDs(t.b(bucketSuppliersByCustomer), id)
	if err != nil {
		return err
	}
	for _, supplier := range suppliers {
		if err := t.b(bucketCustomersByName).Delete(nameKey(supplier, old, id)); err != nil {
			return err
		}
		if err := t.b(bucketCustomersByName).Put(nameKey(supplier, now, id), []byte{}); err != nil {
			return err
		}
	}
	return nil
}

// fillListRecords writes the list record of every suppliers_by_name entry
// (schema 2 to 3).
func fillListRecords(tx *bolt.Tx) error {
	type entry struct{ key, customer, supplier string }
	var entries []entry
	if err := tx.Bucket(bucketSuppliersByName).ForEach(func(k, _ []byte) error {
		customer, rest, ok1 := strings.Cut(string(k), "/")
		i := strings.LastIndexByte(rest, 0)
		if !ok1 || i < 0 {
			return fmt.Errorf("bad name index key %q", k)
		}
		entries = append(entries, entry{string(k), customer, rest[i+1:]})
		return nil
	}); err != nil {
		return err
	}
	for _, e := range entries {
		sup, err := getCompany(tx, e.supplier)
		if err != nil {
			return err
		}
		rel, err := getRelationship(tx, e.customer, e.supplier)
		if err != nil {
			return err
		}
		record, err := listRecord(sup, rel.CreateTime)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketSuppliersByName).Put([]byte(e.key), record); err != nil {
			return err
		}
	}
	return nil
}

// secondIDs lists the {second} ids of b's {first}/{second} keys.
func secondIDs(b *bolt.Bucket, first string) ([]string, error) {
	var out []string
	prefix := prefixKey(first)
	cur := b.Cursor()
	for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		out = append(out, string(k[len(prefix):]))
	}
	return out, nil
}

// DeleteCompany implements directory.Store.
func (s *Store) DeleteCompany(ctx context.Context, id string) error {
	return s.update(ctx, func(t *txn) error {
		c, err := getCompany(t.tx, id)
		if err != nil {
			return err
		}
		for _, b := range []storage.Bucket{bucketSuppliersByCustomer, bucketCustomersBySupplier, bucketEmployees, bucketProjects,
			bucketCompaniesByParent, bucketImports} {
			if hasPrefix(t.b(b), prefixKey(id)) {
				return directory.ErrInUse
			}
		}
		if err := t.b(bucketCompanies).Delete([]byte(id)); err != nil {
			return err
		}
		if c.Parent != "" {
			if err := t.b(bucketCompaniesByParent).Delete(pairKey(c.Parent, id)); err != nil {
				return err
			}
		}
		// The index entry goes with the record; create-request entries that
		// point to it are left and read as absent (see CreateCompany).
		return t.b(bucketCompaniesByRegistration).Delete(pairKey(c.Country, c.RegistrationNumber))
	})
}

// EventsAfter implements feed.Log.
func (s *Store) EventsAfter(ctx context.Context, after uint64, limit int) ([]feed.Event, error) {
	var out []feed.Event
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = s.events.After(tx, after, limit)
		return err
	})
	return out, err
}

// PrunedThrough implements feed.Log.
func (s *Store) PrunedThrough(ctx context.Context) (uint64, error) {
	var out uint64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		out = s.events.PrunedThrough(tx)
		return nil
	})
	return out, err
}

// PruneEvents implements directory.Store.
func (s *Store) PruneEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	n := 0
	err := s.update(ctx, func(t *txn) error {
		var err error
		n, err = s.events.Prune(t.tx, before, limit)
		return err
	})
	return n, err
}

func hasPrefix(b *bolt.Bucket, prefix []byte) bool {
	k, _ := b.Cursor().Seek(prefix)
	return k != nil && bytes.HasPrefix(k, prefix)
}

func getCompany(tx *bolt.Tx, id string) (directory.Company, error) {
	var m directoryv1.Company
	if err := getProto(tx, bucketCompanies, []byte(id), &m); err != nil {
		return directory.Company{}, err
	}
	return protoconv.CompanyFrom(&m)
}

func decodeCompany(k, v []byte) (directory.Company, error) {
	var m directoryv1.Company
	if err := unmarshal(bucketCompanies, k, v, &m); err != nil {
		return directory.Company{}, err
	}
	return protoconv.CompanyFrom(&m)
}

func putCompany(tx *bolt.Tx, c directory.Company) error {
	return storage.PutProto(tx, bucketCompanies, []byte(c.ID), protoconv.Company(c))
}

// getJSON reads an internal record.
func getJSON(tx *bolt.Tx, b storage.Bucket, key []byte, v any) error {
	raw := tx.Bucket(b).Get(key)
	if raw == nil {
		return directory.ErrNotFound
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s/%q: %w", b, key, err)
	}
	return nil
}

func putJSON(tx *bolt.Tx, b storage.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s/%q: %w", b, key, err)
	}
	return tx.Bucket(b).Put(key, raw)
}
