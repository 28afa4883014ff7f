package boltstore

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/vigil/vigil/services/runtime/storage"
)

// metaRecordFormat says every record of the file is a message
// (records.go): set once migrateRecords has rewritten a file written by
// the versions that stored JSON, or at once on a new file.
var metaRecordFormat = []byte("record_format")

const recordFormatProto = "proto"

// migrateBatch bounds the values one migration transaction visits, so that
// a large file (the audit log) never makes one huge transaction.
const migrateBatch = 5000

// recordBuckets are the buckets whose values are records, with the codec
// that re-encodes a JSON value as its message.
var recordBuckets = []struct {
	bucket   storage.Bucket
	reencode func([]byte) ([]byte, error)
}{
	{bLogins, reencode(loginCodec)},
	{bCompanies, reencode(companyCodec)},
	{bMembers, reencode(membershipCodec)},
	{bSessions, reencode(sessionCodec)},
	{bLinkTokens, reencode(linkTokenCodec)},
	{bGrants, reencode(grantCodec)},
	{bAudit, reencode(auditCodec)},
	{bRevocations, reencode(revocationCodec)},
	{bKeys, reencode(signingKeyCodec)},
	{bOutbox, reencode(notificationCodec)},
	{bPending, reencode(pendingCodec)},
}

func reencode[T any](c codec[T]) func([]byte) ([]byte, error) {
	return func(v []byte) ([]byte, error) {
		rec, err := c.decode(v)
		if err != nil {
			return nil, err
		}
		return c.encode(rec)
	}
}

// migrateRecords rewrites every JSON value of a file written before
// records were messages, bucket by bucket, in transactions of at most
// migrateBatch values, then marks the file. It is idempotent: a start that
// dies half-way leaves values of both formats, which every decoder reads,
// and the next start goes on.
func migrateRecords(db *bolt.DB) error {
	var done bool
	if err := db.View(func(tx *bolt.Tx) error {
		done = string(tx.Bucket(bMeta).Get(metaRecordFormat)) == recordFormatProto
		return nil
	}); err != nil || done {
		return err
	}
	for _, rb := range recordBuckets {
		var after []byte
		for more := true; more; {
			err := db.Update(func(tx *bolt.Tx) error {
				var err error
				after, more, err = migrateSome(tx.Bucket(rb.bucket), after, rb.reencode)
				if err != nil {
					return fmt.Errorf("migrate %s to messages: %w", rb.bucket, err)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bMeta).Put(metaRecordFormat, []byte(recordFormatProto))
	})
}

// migrateSome re-encodes the JSON values among the next migrateBatch keys
// after `after` (nil: from the first) and returns the last key visited and
// whether keys remain.
func migrateSome(b *bolt.Bucket, after []byte, reencode func([]byte) ([]byte, error)) ([]byte, bool, error) {
	type change struct{ key, value []byte }
	var changes []change
	c := b.Cursor()
	var k, v []byte
	if after == nil {
		k, v = c.First()
	} else if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
		k, v = c.Next()
	}
	visited := 0
	var last []byte
	for ; k != nil && visited < migrateBatch; k, v = c.Next() {
		visited++
		last = k
		if !isJSON(v) {
			continue
		}
		nv, err := reencode(v)
		if err != nil {
			return nil, false, fmt.Errorf("%q: %w", k, err)
		}
		changes = append(changes, change{storage.Copy(k), nv})
	}
	more := k != nil
	last = storage.Copy(last)
	// Values change after the walk: a bbolt cursor must not see its bucket
	// change under it.
	for _, ch := range changes {
		if err := b.Put(ch.key, ch.value); err != nil {
			return nil, false, err
		}
	}
	return last, more, nil
}
