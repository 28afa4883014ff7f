package boltstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/pagetoken"
	"github.com/vigil/vigil/services/runtime/storage"
	"github.com/vigil/vigil/services/vault/internal/vault"
)

// Store is the bbolt store.
type Store struct {
	db  *bolt.DB
	log storage.EventLog
}

var _ vault.Store = (*Store)(nil)

// Open opens (or creates) the store at path.
func Open(path string) (*Store, error) {
	db, err := storage.OpenBolt(path, buckets...)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, log: storage.EventLog{Bucket: bEvents, Source: "vault"}}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// View implements vault.Store.
func (s *Store) View(ctx context.Context, fn func(vault.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error { return fn(&txn{tx: tx, log: s.log}) })
}

// Update implements vault.Store.
func (s *Store) Update(ctx context.Context, fn func(vault.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return fn(&txn{tx: tx, log: s.log}) })
}

// EventsAfter implements feed.Log.
func (s *Store) EventsAfter(ctx context.Context, after uint64, limit int) (out []feed.Event, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	err = s.db.View(func(tx *bolt.Tx) error { out, err = s.log.After(tx, after, limit); return err })
	return out, err
}

// PrunedThrough implements feed.Log.
func (s *Store) PrunedThrough(ctx context.Context) (n uint64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	err = s.db.View(func(tx *bolt.Tx) error { n = s.log.PrunedThrough(tx); return nil })
	return n, err
}

type txn struct {
	tx  *bolt.Tx
	log storage.EventLog
	// bumped are the revision counters this transaction has moved (bump).
	bumped map[string]bool
}

func (t *txn) b(name storage.Bucket) *bolt.Bucket { return t.tx.Bucket(name) }

func key(parts ...string) []byte { return []byte(strings.Join(parts, "/")) }

func prefix(parts ...string) []byte { return []byte(strings.Join(parts, "/") + "/") }

func get[T any](t *txn, b storage.Bucket, k []byte) (*T, error) {
	v := t.b(b).Get(k)
	if v == nil {
		return nil, vault.ErrNotFound
	}
	out := new(T)
	if err := json.Unmarshal(v, out); err != nil {
		return nil, fmt.Errorf("decode %s/%q: %w", b, k, err)
	}
	return out, nil
}

func put(t *txn, b storage.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", b, err)
	}
	return t.b(b).Put(k, raw)
}

func mark(t *txn, b storage.Bucket, k []byte) error { return t.b(b).Put(k, []byte{}) }

// cursorOut and cursorIn make index keys into opaque page cursors.
func cursorOut(k []byte) string { return base64.RawURLEncoding.EncodeToString(k) }

func cursorIn(c string, pfx []byte) ([]byte, error) {
	if c == "" {
		return nil, nil
	}
	k, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !bytes.HasPrefix(k, pfx) {
		return nil, pagetoken.Invalid()
	}
	return k, nil
}

// scan walks the keys with prefix pfx after the cursor, calling fn until it
// returns true.
func scan(c *bolt.Cursor, pfx, after []byte, fn func(k, v []byte) (stop bool)) {
	scanFrom(c, pfx, pfx, after, fn)
}

// scanFrom is scan starting at the key from (within pfx) when there is no
// cursor.
func scanFrom(c *bolt.Cursor, pfx, from, after []byte, fn func(k, v []byte) (stop bool)) {
	var k, v []byte
	if after != nil {
		k, v = c.Seek(after)
		if k != nil && bytes.Equal(k, after) {
			k, v = c.Next()
		}
	} else {
		k, v = c.Seek(from)
	}
	for ; k != nil && bytes.HasPrefix(k, pfx); k, v = c.Next() {
		if fn(k, v) {
			return
		}
	}
}

// step tells scanPage what to do with a key.
type step int

const (
	take step = iota // the item is on the page
	skip             // not on the page; go on
	stop             // no further key is either
)

// scanPage is one page of an index: it walks the keys with prefix pfx after
// the page's cursor, decoding each into an item, until p.Limit items (0: no
// bound) are on the page; the cursor it returns, of the last item, is empty
// unless a further item would be taken.
func scanPage[T any](c *bolt.Cursor, pfx []byte, p vault.Page, decode func(k, v []byte) (T, step, error)) ([]T, string, error) {
	return scanPageFrom(c, pfx, pfx, p, decode)
}

// scanPageFrom is scanPage starting at the key from (within pfx) on the
// first page.
func scanPageFrom[T any](c *bolt.Cursor, pfx, from []byte, p vault.Page, decode func(k, v []byte) (T, step, error)) ([]T, string, error) {
	after, err := cursorIn(p.After, pfx)
	if err != nil {
		return nil, "", err
	}
	var out []T
	var last []byte
	more := false
	scanFrom(c, pfx, from, after, func(k, v []byte) bool {
		item, st, derr := decode(k, v)
		switch {
		case derr != nil:
			err = derr
			return true
		case st == stop:
			return true
		case st == skip:
			return false
		case p.Limit > 0 && len(out) == p.Limit:
			more = true
			return true
		}
		out = append(out, item)
		last = append(last[:0], k...)
		return false
	})
	if err != nil {
		return nil, "", err
	}
	if more {
		return out, cursorOut(last), nil
	}
	return out, "", nil
}

func inv32(n int) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], ^uint32(n))
	return b[:]
}

func u32(n uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], n)
	return b[:]
}

// ---- catalog

func (t *txn) DocumentType(id string) (*vault.DocumentType, error) {
	return get[vault.DocumentType](t, bTypes, []byte(id))
}

func (t *txn) PutDocumentType(dt *vault.DocumentType) error {
	if err := put(t, bTypes, []byte(dt.ID), dt); err != nil {
		return err
	}
	return mark(t, bTypesByOwner, key(dt.Owner, dt.ID))
}

func (t *txn) DocumentTypesOf(owner string) ([]*vault.DocumentType, error) {
	var out []*vault.DocumentType
	var err error
	scan(t.b(bTypesByOwner).Cursor(), prefix(owner), nil, func(k, _ []byte) bool {
		var dt *vault.DocumentType
		dt, err = t.DocumentType(string(k[len(owner)+1:]))
		if err != nil {
			return true
		}
		out = append(out, dt)
		return false
	})
	return out, err
}

// ---- requirements

func (t *txn) Requirement(customer, id string) (*vault.Requirement, error) {
	return get[vault.Requirement](t, bRequirements, key(customer, id))
}

func (t *txn) PutRequirement(r *vault.Requirement) error {
	return put(t, bRequirements, key(r.Customer, r.ID), r)
}

func (t *txn) DeleteRequirement(customer, id string) error {
	return t.b(bRequirements).Delete(key(customer, id))
}

func (t *txn) Requirements(customer string) ([]*vault.Requirement, error) {
	var out []*vault.Requirement
	var err error
	scan(t.b(bRequirements).Cursor(), prefix(customer), nil, func(_, v []byte) bool {
		r := &vault.Requirement{}
		if err = json.Unmarshal(v, r); err != nil {
			return true
		}
		out = append(out, r)
		return false
	})
	return out, err
}

// ---- documents

func (t *txn) Document(supplier, id string) (*vault.Document, error) {
	return get[vault.Document](t, bDocuments, key(supplier, id))
}

func untilSupKey(d *vault.Document) []byte {
	return append(append([]byte(d.Supplier+"/"), d.ValidUntil.Key()...), "/"+d.ID...)
}

func untilKey(d *vault.Document) []byte {
	return append(d.ValidUntil.Key(), d.Supplier+"/"+d.ID...)
}

func (t *txn) PutDocument(d *vault.Document) error {
	prev, err := t.Document(d.Supplier, d.ID)
	if err != nil && !errors.Is(err, vault.ErrNotFound) {
		return err
	}
	if prev != nil && prev.State == vault.StateCurrent {
		if err := t.b(bDocUntilSup).Delete(untilSupKey(prev)); err != nil {
			return err
		}
		if err := t.b(bDocUntil).Delete(untilKey(prev)); err != nil {
			return err
		}
	}
	if err := put(t, bDocuments, key(d.Supplier, d.ID), d); err != nil {
		return err
	}
	vk := append(prefix(d.Supplier, d.DocumentType, d.Employee), inv32(int(d.Version))...)
	if err := t.b(bDocVersions).Put(vk, []byte(d.ID)); err != nil {
		return err
	}
	if d.State != vault.StateCurrent {
		return nil
	}
	if err := t.b(bDocCurrent).Put(key(d.Supplier, d.DocumentType, d.Employee), []byte(d.ID)); err != nil {
		return err
	}
	if err := mark(t, bDocUntilSup, untilSupKey(d)); err != nil {
		return err
	}
	return mark(t, bDocUntil, untilKey(d))
}

func (t *txn) CurrentDocument(supplier, docType, employee string) (*vault.Document, error) {
	id := t.b(bDocCurrent).Get(key(supplier, docType, employee))
	if id == nil {
		return nil, vault.ErrNotFound
	}
	return t.Document(supplier, string(id))
}

func (t *txn) Versions(supplier, docType, employee string) ([]*vault.Document, error) {
	var out []*vault.Document
	var err error
	scan(t.b(bDocVersions).Cursor(), prefix(supplier, docType, employee), nil, func(_, v []byte) bool {
		var d *vault.Document
		if d, err = t.Document(supplier, string(v)); err != nil {
			return true
		}
		out = append(out, d)
		return false
	})
	return out, err
}

func (t *txn) Documents(supplier string, q vault.DocQuery, p vault.Page) ([]*vault.Document, string, error) {
	b, pfx := bDocCurrent, prefix(supplier)
	if q.History {
		b = bDocVersions
	}
	switch {
	case q.DocumentType != "" && q.HasSubject:
		pfx = prefix(supplier, q.DocumentType, q.Employee)
		if !q.History {
			pfx = key(supplier, q.DocumentType, q.Employee)
		}
	case q.DocumentType != "":
		pfx = prefix(supplier, q.DocumentType)
	}
	return scanPage(t.b(b).Cursor(), pfx, p, func(k, v []byte) (*vault.Document, step, error) {
		if !q.History && !bytes.Equal(k, pfx) && q.DocumentType != "" && q.HasSubject {
			return nil, stop, nil
		}
		d, err := t.Document(supplier, string(v))
		if err != nil {
			return nil, stop, err
		}
		if q.HasSubject && d.Employee != q.Employee || q.Kind != vault.SubjectUnspecified && d.SubjectKind() != q.Kind {
			return nil, skip, nil
		}
		return d, take, nil
	})
}

func (t *txn) ExpiringDocuments(supplier string, from, to vault.Date, p vault.Page) ([]*vault.Document, string, error) {
	pfx := prefix(supplier)
	start := append(append([]byte{}, pfx...), from.Key()...)
	return scanPageFrom(t.b(bDocUntilSup).Cursor(), pfx, start, p, func(k, _ []byte) (*vault.Document, step, error) {
		rest := k[len(pfx):]
		if vault.DateFromKey(rest) > to {
			return nil, stop, nil
		}
		d, err := t.Document(supplier, string(rest[5:]))
		return d, take, err
	})
}

func (t *txn) DocumentsUntil(day vault.Date, p vault.Page) ([]*vault.Document, string, error) {
	return scanPage(t.b(bDocUntil).Cursor(), day.Key(), p, func(k, _ []byte) (*vault.Document, step, error) {
		sup, id, _ := strings.Cut(string(k[4:]), "/")
		d, err := t.Document(sup, id)
		return d, take, err
	})
}

// ---- blobs

func (t *txn) Blob(sha string) (*vault.Blob, error) { return get[vault.Blob](t, bBlobs, []byte(sha)) }

func (t *txn) PutBlob(b *vault.Blob) error { return put(t, bBlobs, []byte(b.SHA256), b) }

func (t *txn) PutBlobIntent(i *vault.BlobIntent) error {
	if err := put(t, bBlobIntents, []byte(i.ID), i); err != nil {
		return err
	}
	return t.b(bIntentsBySHA).Put([]byte(i.SHA256+"/"+i.ID), nil)
}

func (t *txn) DeleteBlobIntent(id string) error {
	i, err := get[vault.BlobIntent](t, bBlobIntents, []byte(id))
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := t.b(bIntentsBySHA).Delete([]byte(i.SHA256 + "/" + i.ID)); err != nil {
		return err
	}
	return t.b(bBlobIntents).Delete([]byte(id))
}

func (t *txn) OtherBlobIntent(sha, except string) (bool, error) {
	prefix := []byte(sha + "/")
	c := t.b(bIntentsBySHA).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if string(k[len(prefix):]) != except {
			return true, nil
		}
	}
	return false, nil
}

func (t *txn) BlobIntents(limit int) ([]*vault.BlobIntent, error) {
	var out []*vault.BlobIntent
	var err error
	scan(t.b(bBlobIntents).Cursor(), nil, nil, func(_, v []byte) bool {
		i := &vault.BlobIntent{}
		if err = json.Unmarshal(v, i); err != nil {
			return true
		}
		out = append(out, i)
		return len(out) >= limit
	})
	return out, err
}

// ---- download log

func (t *txn) AppendAccess(a *vault.Access) error {
	b := t.b(bAccess)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	a.Seq = seq
	var inv [8]byte
	binary.BigEndian.PutUint64(inv[:], ^seq)
	return put(t, bAccess, append(prefix(a.Supplier, a.DocumentType, a.Employee), inv[:]...), a)
}

func (t *txn) AccessLog(supplier, docType, employee string, p vault.Page) ([]*vault.Access, string, error) {
	return scanPage(t.b(bAccess).Cursor(), prefix(supplier, docType, employee), p, func(_, v []byte) (*vault.Access, step, error) {
		a := &vault.Access{}
		return a, take, json.Unmarshal(v, a)
	})
}

// ---- directory copy

func (t *txn) Company(id string) (*vault.Company, error) {
	return get[vault.Company](t, bCompanies, []byte(id))
}

func (t *txn) PutCompany(c *vault.Company) error {
	if err := t.bump(bMeta, []byte(metaCompaniesRevision)); err != nil {
		return err
	}
	return put(t, bCompanies, []byte(c.ID), c)
}

func (t *txn) HasRelationship(customer, supplier string) (bool, error) {
	return t.b(bRel).Get(key(customer, supplier)) != nil, nil
}

func (t *txn) PutRelationship(customer, supplier string) error {
	if err := mark(t, bRel, key(customer, supplier)); err != nil {
		return err
	}
	return mark(t, bRelRev, key(supplier, customer))
}

func (t *txn) DeleteRelationship(customer, supplier string) error {
	if err := t.b(bRel).Delete(key(customer, supplier)); err != nil {
		return err
	}
	return t.b(bRelRev).Delete(key(supplier, customer))
}

// idsAfter lists the last segments of keys under pfx, paged.
func idsAfter(t *txn, b storage.Bucket, pfx []byte, p vault.Page) ([]string, string, error) {
	return scanPage(t.b(b).Cursor(), pfx, p, func(k, _ []byte) (string, step, error) { return string(k[len(pfx):]), take, nil })
}

func (t *txn) Suppliers(customer string, p vault.Page) ([]string, string, error) {
	return idsAfter(t, bRel, prefix(customer), p)
}

func (t *txn) Customers(supplier string) ([]string, error) {
	out, _, err := idsAfter(t, bRelRev, prefix(supplier), vault.Page{})
	return out, err
}

func (t *txn) Relationships(p vault.Page) ([][2]string, string, error) {
	keys, next, err := idsAfter(t, bRel, nil, p)
	out := make([][2]string, 0, len(keys))
	for _, k := range keys {
		c, s, _ := strings.Cut(k, "/")
		out = append(out, [2]string{c, s})
	}
	return out, next, err
}

func (t *txn) PutAssignment(a vault.Assignment) error {
	if err := mark(t, bAssign, key(a.Customer, a.Supplier, a.Employee, a.Project)); err != nil {
		return err
	}
	if err := mark(t, bAssignProj, key(a.Customer, a.Project, a.Supplier, a.Employee)); err != nil {
		return err
	}
	return mark(t, bAssignEmp, key(a.Supplier, a.Employee, a.Customer, a.Project))
}

func (t *txn) DeleteAssignment(a vault.Assignment) error {
	if err := t.b(bAssign).Delete(key(a.Customer, a.Supplier, a.Employee, a.Project)); err != nil {
		return err
	}
	if err := t.b(bAssignProj).Delete(key(a.Customer, a.Project, a.Supplier, a.Employee)); err != nil {
		return err
	}
	return t.b(bAssignEmp).Delete(key(a.Supplier, a.Employee, a.Customer, a.Project))
}

func (t *txn) assignments(b storage.Bucket, pfx []byte, build func(parts []string) vault.Assignment) []vault.Assignment {
	var out []vault.Assignment
	scan(t.b(b).Cursor(), pfx, nil, func(k, _ []byte) bool {
		parts := strings.Split(string(k), "/")
		if len(parts) == 4 {
			out = append(out, build(parts))
		}
		return false
	})
	return out
}

func (t *txn) Assignments(customer, supplier string) ([]vault.Assignment, error) {
	return t.assignments(bAssign, prefix(customer, supplier), func(p []string) vault.Assignment {
		return vault.Assignment{Customer: p[0], Supplier: p[1], Employee: p[2], Project: p[3]}
	}), nil
}

func (t *txn) CustomerAssignments(customer string) ([]vault.Assignment, error) {
	return t.assignments(bAssign, prefix(customer), func(p []string) vault.Assignment {
		return vault.Assignment{Customer: p[0], Supplier: p[1], Employee: p[2], Project: p[3]}
	}), nil
}

func (t *txn) ProjectAssignments(customer, project string) ([]vault.Assignment, error) {
	return t.assignments(bAssignProj, prefix(customer, project), func(p []string) vault.Assignment {
		return vault.Assignment{Customer: p[0], Project: p[1], Supplier: p[2], Employee: p[3]}
	}), nil
}

func (t *txn) EmployeeAssignments(supplier, employee string) ([]vault.Assignment, error) {
	return t.assignments(bAssignEmp, prefix(supplier, employee), func(p []string) vault.Assignment {
		return vault.Assignment{Supplier: p[0], Employee: p[1], Customer: p[2], Project: p[3]}
	}), nil
}

func (t *txn) Project(customer, id string) (*vault.Project, error) {
	return get[vault.Project](t, bProjects, key(customer, id))
}

func (t *txn) PutProject(p *vault.Project) error { return put(t, bProjects, key(p.Customer, p.ID), p) }

func (t *txn) Cursor(name string) (uint64, error) {
	return storage.GetU64(t.tx, bCursors, []byte(name)), nil
}

func (t *txn) PutCursor(name string, seq uint64) error {
	return storage.PutU64(t.tx, bCursors, []byte(name), seq)
}

// ---- events, outbox, requests, meta

func (t *txn) AppendEvent(e *feed.Event) error { return t.log.Append(t.tx, e) }

func (t *txn) PruneEvents(before time.Time, limit int) (int, error) {
	return t.log.Prune(t.tx, before, limit)
}

func (t *txn) PutOutbox(n *vault.Outbound) error { return put(t, bOutbox, []byte(n.ID), n) }

func (t *txn) Outbox(limit int) ([]*vault.Outbound, error) {
	var out []*vault.Outbound
	var err error
	scan(t.b(bOutbox).Cursor(), nil, nil, func(_, v []byte) bool {
		n := &vault.Outbound{}
		if err = json.Unmarshal(v, n); err != nil {
			return true
		}
		out = append(out, n)
		return len(out) >= limit
	})
	return out, err
}

func (t *txn) DeleteOutbox(id string) error { return t.b(bOutbox).Delete([]byte(id)) }

func (t *txn) LastRequest(customer, supplier string) (time.Time, error) {
	v := t.b(bRequests).Get(key(customer, supplier))
	if v == nil {
		return time.Time{}, vault.ErrNotFound
	}
	return time.Parse(time.RFC3339Nano, string(v))
}

func (t *txn) PutLastRequest(customer, supplier string, at time.Time) error {
	return t.b(bRequests).Put(key(customer, supplier), []byte(at.UTC().Format(time.RFC3339Nano)))
}

func (t *txn) Meta(k string) ([]byte, error) {
	v := t.b(bMeta).Get([]byte(k))
	if v == nil {
		return nil, vault.ErrNotFound
	}
	return storage.Copy(v), nil
}

func (t *txn) PutMeta(k string, v []byte) error { return t.b(bMeta).Put([]byte(k), v) }
