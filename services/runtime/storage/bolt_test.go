package storage

import (
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
)

var testBucket = Bucket("things")

func TestProtoRoundTripAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "svc", "svc.db")
	db, err := OpenBolt(path, testBucket)
	if err != nil {
		t.Fatal(err)
	}
	want := &notifyv1.DeadLetter{Name: "deadLetters/1", Attempts: 3}
	if err := db.Update(func(tx *bolt.Tx) error { return PutProto(tx, testBucket, []byte("1"), want) }); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenBolt(path, testBucket); err == nil {
		t.Fatal("a second open of a held file must fail (after its timeout), not hang or share it")
	}
	db.Close()
	db, err = OpenBolt(path, testBucket)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := &notifyv1.DeadLetter{}
	if err := db.View(func(tx *bolt.Tx) error { return GetProto(tx, testBucket, []byte("1"), got) }); err != nil {
		t.Fatal(err)
	}
	if got.GetName() != want.GetName() || got.GetAttempts() != 3 {
		t.Fatalf("got %v", got)
	}
	err = db.View(func(tx *bolt.Tx) error { return GetProto(tx, testBucket, []byte("2"), got) })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key: %v, want ErrNotFound", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(testBucket).Put([]byte("bad"), []byte{0xff, 0xff}) }); err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *bolt.Tx) error { return GetProto(tx, testBucket, []byte("bad"), got) }); err == nil {
		t.Fatal("a value that fails to decode must be an error, never a panic or a zero value")
	}
}
