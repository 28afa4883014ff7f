package boltstore

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/protoconv"
	"github.com/vigil/vigil/services/runtime/storage"
)

// queueContact stores a pending contact under the next sequence, whose
// 20-digit decimal form is its id.
func (t *txn) queueContact(pc directory.PendingContact) (string, error) {
	seq, err := t.b(bucketContactsPending).NextSequence()
	if err != nil {
		return "", err
	}
	pc.ID = fmt.Sprintf("%020d", seq)
	return pc.ID, putJSON(t.tx, bucketContactsPending, []byte(pc.ID), pc)
}

// PendingContacts implements directory.Store.
func (s *Store) PendingContacts(ctx context.Context, after string, limit int) ([]directory.PendingContact, error) {
	var out []directory.PendingContact
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return scan(tx.Bucket(bucketContactsPending), nil, nil, after, limit, func(id string, _ []byte) error {
			var pc directory.PendingContact
			if err := getJSON(tx, bucketContactsPending, []byte(id), &pc); err != nil {
				return err
			}
			out = append(out, pc)
			return nil
		})
	})
	return out, err
}

// CompleteContacts implements directory.Store.
func (s *Store) CompleteContacts(ctx context.Context, done []directory.ContactDone) error {
	return s.update(ctx, func(t *txn) error {
		for _, d := range done {
			var pc directory.PendingContact
			err := getJSON(t.tx, bucketContactsPending, []byte(d.ID), &pc)
			if errors.Is(err, directory.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			reason := d.Error
			if d.User != "" {
				_, _, err := t.addReference(pc.Customer, pc.Supplier, d.User)
				switch {
				case errors.Is(err, directory.ErrTooManyReferences):
					reason = fmt.Sprintf("the supplier already has %d references for this customer", directory.MaxReferences)
				case err != nil && !errors.Is(err, directory.ErrNotFound): // a relationship ended meanwhile keeps no reference
					return err
				}
			}
			if reason != "" && pc.Import != "" {
				if err := t.setContactError(pc.Customer, pc.Import, pc.Row, reason); err != nil {
					return err
				}
			}
			if err := t.b(bucketContactsPending).Delete([]byte(d.ID)); err != nil {
				return err
			}
		}
		return nil
	})
}

// setContactError writes why a row's contact was refused on its result.
func (t *txn) setContactError(customer, importID string, seq uint64, reason string) error {
	key := rowKey(importID, seq)
	v := t.b(bucketImportResults).Get(key)
	if v == nil {
		return nil
	}
	var m directoryv1.SupplierImportRowResult
	if err := unmarshal(bucketImportResults, key, v, &m); err != nil {
		return err
	}
	r := protoconv.ImportRowResultFrom(seq, &m)
	r.ContactError = reason
	if err := storage.PutProto(t.tx, bucketImportResults, key, protoconv.ImportRowResult(customer, r)); err != nil {
		return err
	}
	return t.b(bucketImportErrors).Put(key, []byte{})
}
