package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/protoconv"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/storage"
)

func importKey(customer, id string) []byte { return pairKey(customer, id) }

func activeKey(imp directory.Import) []byte {
	return []byte(oldestFirst(imp.CreateTime.UnixNano()) + imp.ID)
}

func getImport(tx *bolt.Tx, customer, id string) (directory.Import, error) {
	var imp directory.Import
	err := getJSON(tx, bucketImports, importKey(customer, id), &imp)
	return imp, err
}

func putImport(tx *bolt.Tx, imp directory.Import) error {
	return putJSON(tx, bucketImports, importKey(imp.Customer, imp.ID), imp)
}

// CreateImport implements directory.Store.
func (s *Store) CreateImport(ctx context.Context, imp directory.Import) error {
	return s.update(ctx, func(t *txn) error {
		if t.b(bucketImports).Get(importKey(imp.Customer, imp.ID)) != nil {
			return fmt.Errorf("import id %s already used", imp.ID)
		}
		if err := putImport(t.tx, imp); err != nil {
			return err
		}
		if err := t.b(bucketImportsByTime).Put(pairKey(imp.Customer, newestFirst(imp.CreateTime.UnixNano())+imp.ID), []byte{}); err != nil {
			return err
		}
		return t.b(bucketImportsActive).Put(activeKey(imp), importKey(imp.Customer, imp.ID))
	})
}

// AppendImportRows implements directory.Store.
func (s *Store) AppendImportRows(ctx context.Context, customer, id string, rows []directory.ImportRow, now time.Time) (directory.Import, error) {
	var out directory.Import
	err := s.update(ctx, func(t *txn) error {
		imp, err := getImport(t.tx, customer, id)
		if err != nil {
			return err
		}
		if imp.State != directory.ImportUploading {
			return directory.ErrImportState
		}
		for _, r := range rows {
			if err := putJSON(t.tx, bucketImportRows, rowKey(id, r.Seq), toRowRecord(r)); err != nil {
				return err
			}
		}
		imp.Counts.Rows += len(rows)
		imp.UpdateTime = now
		out = imp
		return putImport(t.tx, imp)
	})
	return out, err
}

// StartImport implements directory.Store.
func (s *Store) StartImport(ctx context.Context, customer, id string, now time.Time) (directory.Import, error) {
	var out directory.Import
	err := s.update(ctx, func(t *txn) error {
		imp, err := getImport(t.tx, customer, id)
		if err != nil {
			return err
		}
		if imp.State != directory.ImportUploading {
			return directory.ErrImportState
		}
		imp.State, imp.UpdateTime = directory.ImportRunning, now
		if imp.Counts.Rows == 0 {
			if err := t.finishImport(&imp, now); err != nil {
				return err
			}
		}
		out = imp
		return putImport(t.tx, imp)
	})
	return out, err
}

// finishImport marks imp done (the caller stores it) and tells the customer.
func (t *txn) finishImport(imp *directory.Import, now time.Time) error {
	imp.State, imp.DoneTime, imp.UpdateTime = directory.ImportDone, now, now
	if err := t.b(bucketImportsActive).Delete(activeKey(*imp)); err != nil {
		return err
	}
	return t.emit(directory.ImportCompletedEvent(*imp, now))
}

// discardChunk is how many rows one transaction of DiscardImport deletes.
const discardChunk = 5000

// DiscardImport implements directory.Store.
func (s *Store) DiscardImport(ctx context.Context, customer, id string) error {
	for {
		done := false
		err := s.update(ctx, func(t *txn) error {
			imp, err := getImport(t.tx, customer, id)
			if errors.Is(err, directory.ErrNotFound) {
				done = true
				return nil
			}
			if err != nil {
				return err
			}
			if imp.State != directory.ImportUploading {
				return directory.ErrImportState
			}
			prefix := []byte(id + "/")
			var keys [][]byte
			cur := t.b(bucketImportRows).Cursor()
			for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(keys) < discardChunk; k, _ = cur.Next() {
				keys = append(keys, storage.Copy(k))
			}
			for _, k := range keys {
				if err := t.b(bucketImportRows).Delete(k); err != nil {
					return err
				}
			}
			if len(keys) == discardChunk {
				return nil
			}
			done = true
			for _, e := range []struct {
				b   storage.Bucket
				key []byte
			}{
				{bucketImports, importKey(customer, id)},
				{bucketImportsByTime, pairKey(customer, newestFirst(imp.CreateTime.UnixNano())+id)},
				{bucketImportsActive, activeKey(imp)},
			} {
				if err := t.b(e.b).Delete(e.key); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || done {
			return err
		}
	}
}

// Import implements directory.Store.
func (s *Store) Import(ctx context.Context, customer, id string) (directory.Import, error) {
	var out directory.Import
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = getImport(tx, customer, id)
		return err
	})
	return out, err
}

// ListImports implements directory.Store.
func (s *Store) ListImports(ctx context.Context, customer, after string, limit int) ([]directory.Import, []string, error) {
	var out []directory.Import
	var cursors []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		base := prefixKey(customer)
		cur := tx.Bucket(bucketImportsByTime).Cursor()
		start := base
		if after != "" {
			start = append(append([]byte(nil), base...), after...)
		}
		for k, _ := cur.Seek(start); k != nil && bytes.HasPrefix(k, base) && len(out) < limit; k, _ = cur.Next() {
			cursor := string(k[len(base):])
			if cursor == after || len(cursor) <= 16 {
				continue
			}
			imp, err := getImport(tx, customer, cursor[16:])
			if err != nil {
				return err
			}
			if imp.State == directory.ImportUploading {
				continue
			}
			out, cursors = append(out, imp), append(cursors, cursor)
		}
		return nil
	})
	return out, cursors, err
}

// ActiveImports implements directory.Store.
func (s *Store) ActiveImports(ctx context.Context) ([]directory.Import, error) {
	var out []directory.Import
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketImportsActive).ForEach(func(_, v []byte) error {
			customer, id, ok := strings.Cut(string(v), "/")
			if !ok {
				return fmt.Errorf("bad active import %q", v)
			}
			imp, err := getImport(tx, customer, id)
			if err != nil {
				return err
			}
			out = append(out, imp)
			return nil
		})
	})
	return out, err
}

// PendingImportRows implements directory.Store.
func (s *Store) PendingImportRows(ctx context.Context, customer, id string, limit int) ([]directory.ImportRow, error) {
	var out []directory.ImportRow
	err := s.view(ctx, func(tx *bolt.Tx) error {
		prefix := []byte(id + "/")
		cur := tx.Bucket(bucketImportRows).Cursor()
		for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = cur.Next() {
			var r rowRecord
			if err := getJSON(tx, bucketImportRows, k, &r); err != nil {
				return err
			}
			out = append(out, r.row())
		}
		return nil
	})
	return out, err
}

// ApplyImportRows implements directory.Store.
func (s *Store) ApplyImportRows(ctx context.Context, customer, id string, work []directory.ImportWork, now time.Time) (directory.Import, []directory.ImportRowResult, []string, error) {
	var out directory.Import
	var results []directory.ImportRowResult
	var contacts []string
	err := s.update(ctx, func(t *txn) error {
		results, contacts = nil, nil
		imp, err := getImport(t.tx, customer, id)
		if err != nil {
			return err
		}
		if imp.State != directory.ImportRunning {
			return directory.ErrImportState
		}
		for _, w := range work {
			key := rowKey(id, w.Row.Seq)
			if t.b(bucketImportRows).Get(key) == nil {
				continue // applied by another worker
			}
			r := directory.ImportRowResult{Seq: w.Row.Seq, Line: w.Row.Line, RegistrationNumber: w.Row.RegistrationNumber,
				LegalName: w.Row.LegalName, Outcome: directory.OutcomeError, Error: w.Error}
			contact := ""
			if w.Registration != nil {
				res, err := t.register(*w.Registration)
				var de *errs.Error
				switch {
				case err == nil:
					r.Outcome, r.Supplier, contact = res.Outcome, res.Supplier.ID, res.PendingContact
					r.ContactError = w.ContactError
				case errors.As(err, &de) && de.Kind != errs.KindInternal:
					r.Error = de.Message
				case errors.Is(err, directory.ErrSelfLink):
					r.Error = "registration_number: this is the customer's own registration number"
				default:
					return err
				}
			}
			if r.Outcome == directory.OutcomeError && r.Error == "" {
				r.Error = "refused"
			}
			if err := storage.PutProto(t.tx, bucketImportResults, key, protoconv.ImportRowResult(customer, r)); err != nil {
				return err
			}
			if r.Outcome == directory.OutcomeError || r.ContactError != "" {
				if err := t.b(bucketImportErrors).Put(key, []byte{}); err != nil {
					return err
				}
			}
			if err := t.b(bucketImportRows).Delete(key); err != nil {
				return err
			}
			imp.Counts.Add(r.Outcome)
			results, contacts = append(results, r), append(contacts, contact)
		}
		imp.UpdateTime = now
		if !hasPrefix(t.b(bucketImportRows), []byte(id+"/")) {
			if err := t.finishImport(&imp, now); err != nil {
				return err
			}
		}
		out = imp
		return putImport(t.tx, imp)
	})
	return out, results, contacts, err
}

// ImportResults implements directory.Store.
func (s *Store) ImportResults(ctx context.Context, id string, after uint64, limit int, errorsOnly bool) ([]directory.ImportRowResult, error) {
	var out []directory.ImportRowResult
	err := s.view(ctx, func(tx *bolt.Tx) error {
		prefix := []byte(id + "/")
		index := tx.Bucket(bucketImportResults)
		if errorsOnly {
			index = tx.Bucket(bucketImportErrors)
		}
		cur := index.Cursor()
		for k, _ := cur.Seek(rowKey(id, after+1)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = cur.Next() {
			v := tx.Bucket(bucketImportResults).Get(k)
			if v == nil {
				return fmt.Errorf("import error index without result %q", k)
			}
			var m directoryv1.SupplierImportRowResult
			if err := unmarshal(bucketImportResults, k, v, &m); err != nil {
				return err
			}
			seq := binary.BigEndian.Uint64(k[len(prefix):])
			out = append(out, protoconv.ImportRowResultFrom(seq, &m))
		}
		return nil
	})
	return out, err
}

// rowRecord is a pending import row as stored: short names, empty fields
// left out (an import may hold hundreds of thousands).
type rowRecord struct {
	Seq       uint64   `json:"s"`
	Line      int      `json:"l,omitempty"`
	Number    string   `json:"n,omitempty"`
	Name      string   `json:"m,omitempty"`
	Country   string   `json:"c,omitempty"`
	Lines     []string `json:"al,omitempty"`
	Postal    string   `json:"ap,omitempty"`
	City      string   `json:"ac,omitempty"`
	AddrCtry  string   `json:"ay,omitempty"`
	Email     string   `json:"ce,omitempty"`
	Given     string   `json:"cg,omitempty"`
	Family    string   `json:"cf,omitempty"`
	Function  string   `json:"cu,omitempty"`
	Phone     string   `json:"cp,omitempty"`
	Mobile    string   `json:"cm,omitempty"`
	ReadError string   `json:"e,omitempty"`
}

func toRowRecord(r directory.ImportRow) rowRecord {
	return rowRecord{Seq: r.Seq, Line: r.Line, Number: r.RegistrationNumber, Name: r.LegalName, Country: r.Country,
		Lines: r.Address.Lines, Postal: r.Address.PostalCode, City: r.Address.City, AddrCtry: r.Address.Country,
		Email: r.Contact.Email, Given: r.Contact.GivenName, Family: r.Contact.FamilyName, Function: r.Contact.Function,
		Phone: r.Contact.Phone, Mobile: r.Contact.Mobile, ReadError: r.ReadError}
}

func (r rowRecord) row() directory.ImportRow {
	return directory.ImportRow{Seq: r.Seq, Line: r.Line, RegistrationNumber: r.Number, LegalName: r.Name, Country: r.Country,
		Address:   directory.Address{Lines: r.Lines, PostalCode: r.Postal, City: r.City, Country: r.AddrCtry},
		Contact:   directory.Contact{Email: r.Email, GivenName: r.Given, FamilyName: r.Family, Function: r.Function, Phone: r.Phone, Mobile: r.Mobile},
		ReadError: r.ReadError}
}
