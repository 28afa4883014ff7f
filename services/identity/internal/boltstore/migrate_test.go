package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigil/vigil/services/identity/internal/domain"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/storage"
)

var (
	t1 = time.Date(2026, 3, 4, 5, 6, 7, 891011121, time.UTC)
	t2 = t1.Add(time.Hour + 1)
	t3 = t1.Add(-time.Minute - 2)
	h1 = [32]byte{1, 2, 3}
	h2 = [32]byte{4, 5, 6}
)

func profile(p string) domain.Profile {
	return domain.Profile{GivenName: p + "g", FamilyName: p + "f", Function: p + "fn", Phone: p + "ph", Mobile: p + "mo", Language: "fr"}
}

// oneOfEach is a record of every kind with every field set (allSet checks
// it), so that a field the codecs forget fails the tests below.
func oneOfEach() (l *domain.Login, c *domain.Company, m *domain.Membership, s *domain.Session, lt *domain.LinkToken, g *domain.Grant,
	a *domain.AuditEvent, r *domain.RevocationEvent, k *domain.SigningKey, n *domain.Notification, p *domain.PendingSignUp) {
	l = &domain.Login{ID: "u1", Email: "ann@x.test", Profile: profile("l"), PasswordHash: "$argon2id$v=19$x", TOTPSealed: []byte{1},
		TOTPPendingSealed: []byte{2}, TOTPLastStep: 12345, TOTPSecret: []byte{3}, TOTPPendingSecret: []byte{4}, EmailUndeliverable: "550 no",
		EmailUndeliverableTime: t1, EmailProvenTime: t2, LastCompany: "c1", CreateTime: t3, UpdateTime: t1}
	c = &domain.Company{ID: "c1", Kind: authz.KindSupplier, DisplayName: "Acme", RequireTwoFactor: true, Language: "fr", UpdateTime: t2}
	m = &domain.Membership{Company: "c1", User: "u1", Role: authz.RoleAdministrator, State: domain.StateActive, Profile: profile("m"),
		ActiveSince: t1, InvitedBy: "c9", CreateTime: t2, UpdateTime: t3}
	s = &domain.Session{ID: "s1", User: "u1", Company: "c1", RefreshHash: h1, Spent: [][32]byte{h2, h1}, CreateTime: t1, ExpireTime: t2,
		MaxTime: t3, SecondFactor: true}
	lt = &domain.LinkToken{Hash: h2, Kind: domain.LinkInvitation, User: "u1", Company: "c1", CreateTime: t1, ExpireTime: t2}
	g = &domain.Grant{ID: "g1", Company: "c1", User: "u1", Scope: authz.GrantScope(2), Level: authz.GrantLevel(2), Project: "companies/c1/projects/p1",
		Creator: "u2", CreateTime: t3}
	a = &domain.AuditEvent{Seq: 1, Company: "c1", Actor: "users/u2", ActorDisplayName: "Bob", Action: "user.update", Target: "companies/c1/users/u1",
		Detail: map[string]string{"role": "ROLE_ADMINISTRATOR", "via": "self"}, Time: t1, RequestID: "r1"}
	r = &domain.RevocationEvent{Sequence: 1, User: "users/u1", Company: "companies/c1", Kind: auth.RevokeRoleChanged, Role: authz.RoleStandard,
		Session: "s1", NotBefore: t2}
	k = &domain.SigningKey{ID: "k1", SealedSeed: []byte{7, 8}, Seed: []byte{9}, CreateTime: t1, RetireTime: t2}
	n = &domain.Notification{ID: "n1", IdempotencyKey: "i1", Template: domain.TemplateInvitation,
		Recipients: []domain.Recipient{{User: "users/u1", Email: "ann@x.test", DisplayName: "Ann", Language: "fr"}},
		Data:       map[string]string{"company": "Acme"}, Company: "c1", CreateTime: t3, Link: domain.LinkInvitation, LinkUser: "u1", LinkCompany: "c1"}
	p = &domain.PendingSignUp{ID: "p1", Draft: domain.CompanyDraft{LegalName: "Acme SAS", Kind: authz.KindOperator, Country: "FR",
		RegistrationNumber: "732829320", Address: "1 rue", TimeZone: "Europe/Paris", Language: "fr"}, CreateTime: t1, ExpireTime: t2, Abandoned: true}
	return
}

// allSet fails when a field of v (a struct, through embedded and nested
// structs) holds its zero value.
func allSet(t *testing.T, v any) {
	t.Helper()
	var walk func(rv reflect.Value, path string)
	walk = func(rv reflect.Value, path string) {
		if rv.Kind() == reflect.Pointer {
			rv = rv.Elem()
		}
		for i := range rv.NumField() {
			f, name := rv.Field(i), path+"."+rv.Type().Field(i).Name
			if f.Kind() == reflect.Struct && f.Type() != reflect.TypeOf(time.Time{}) {
				walk(f, name)
				continue
			}
			if f.IsZero() {
				t.Errorf("%s is not set: the test would not see it lost", name)
			}
		}
	}
	walk(reflect.ValueOf(v), reflect.TypeOf(v).Elem().Name())
}

func sameRecord(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// readAll reads every record of oneOfEach back through the store.
func readAll(t *testing.T, s *Store) {
	t.Helper()
	l, c, m, ses, lt, g, a, r, k, n, p := oneOfEach()
	err := s.View(context.Background(), func(tx domain.Tx) error {
		gl, err := tx.LoginByEmail(l.Email)
		if err != nil {
			return err
		}
		sameRecord(t, "login", gl, l)
		gc, err := tx.Company(c.ID)
		if err != nil {
			return err
		}
		sameRecord(t, "company", gc, c)
		ms, err := tx.UserMemberships("u1")
		if err != nil || len(ms) != 1 {
			t.Fatalf("memberships %v %v", ms, err)
		}
		sameRecord(t, "membership", ms[0], m)
		ss, err := tx.UserSessions("u1")
		if err != nil || len(ss) != 1 {
			t.Fatalf("sessions %v %v", ss, err)
		}
		sameRecord(t, "session", ss[0], ses)
		lts, err := tx.UserLinkTokens("u1")
		if err != nil || len(lts) != 1 {
			t.Fatalf("link tokens %v %v", lts, err)
		}
		sameRecord(t, "link token", lts[0], lt)
		gs, err := tx.Grants("c1")
		if err != nil || len(gs) != 1 {
			t.Fatalf("grants %v %v", gs, err)
		}
		sameRecord(t, "grant", gs[0], g)
		as, err := tx.AuditEvents("c1", 0, 10)
		if err != nil || len(as) != 1 {
			t.Fatalf("audit %v %v", as, err)
		}
		sameRecord(t, "audit event", as[0], a)
		rs, err := tx.Revocations(0, 10)
		if err != nil || len(rs) != 1 {
			t.Fatalf("revocations %v %v", rs, err)
		}
		sameRecord(t, "revocation", rs[0], r)
		ks, err := tx.SigningKeys()
		if err != nil || len(ks) != 1 {
			t.Fatalf("keys %v %v", ks, err)
		}
		sameRecord(t, "signing key", ks[0], k)
		ns, err := tx.Notifications(10)
		if err != nil || len(ns) != 1 {
			t.Fatalf("notifications %v %v", ns, err)
		}
		sameRecord(t, "notification", ns[0], n)
		gp, err := tx.PendingSignUp(p.ID)
		if err != nil {
			return err
		}
		sameRecord(t, "pending sign-up", gp, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeJSONFile writes oneOfEach as the versions before records were
// messages did: JSON values (json.Marshal of the domain records), with
// their index entries, and no format mark.
func writeJSONFile(t *testing.T, path string) {
	t.Helper()
	l, c, m, s, lt, g, a, r, k, n, p := oneOfEach()
	for _, v := range []any{l, c, m, s, lt, g, a, r, k, n, p} {
		allSet(t, v)
	}
	db, err := storage.OpenBolt(path, buckets...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		put := func(b storage.Bucket, key []byte, v any) {
			raw, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Bucket(b).Put(key, raw); err != nil {
				t.Fatal(err)
			}
		}
		index := func(b storage.Bucket, key, v []byte) {
			if err := tx.Bucket(b).Put(key, v); err != nil {
				t.Fatal(err)
			}
		}
		put(bLogins, []byte(l.ID), l)
		index(bLoginsByEmail, []byte(l.Email), []byte(l.ID))
		put(bCompanies, []byte(c.ID), c)
		put(bMembers, pair(m.Company, m.User), m)
		index(bMembersByUser, pair(m.User, m.Company), nil)
		put(bSessions, []byte(s.ID), s)
		index(bSessionsByUsr, pair(s.User, s.ID), nil)
		put(bLinkTokens, lt.Hash[:], lt)
		index(bLinksByUser, linkKey(lt.User, lt.Hash), nil)
		put(bGrants, pair(g.Company, g.ID), g)
		put(bAudit, append([]byte(a.Company+"\x00"), storage.U64(a.Seq)...), a)
		put(bRevocations, storage.U64(r.Sequence), r)
		put(bKeys, []byte(k.ID), k)
		put(bOutbox, append(storage.U64(1), []byte(n.ID)...), n)
		put(bPending, []byte(p.ID), p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestJSONRecordsMigrate: a file written by the JSON versions opens, every
// record reads back whole (issue 14: records are messages now), its values
// are messages afterwards, and opening again changes nothing.
func TestJSONRecordsMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.db")
	writeJSONFile(t, path)
	for range 2 {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, s)
		err = s.db.View(func(tx *bolt.Tx) error {
			if got := string(tx.Bucket(bMeta).Get(metaRecordFormat)); got != recordFormatProto {
				t.Errorf("format mark %q", got)
			}
			for _, rb := range recordBuckets {
				n := 0
				err := tx.Bucket(rb.bucket).ForEach(func(k, v []byte) error {
					n++
					if isJSON(v) {
						t.Errorf("%s/%q is still JSON", rb.bucket, k)
					}
					return nil
				})
				if err != nil || n != 1 {
					t.Errorf("%s: %d values, %v", rb.bucket, n, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestJSONRecordsReadBeforeMigration: a JSON value still reads (a start
// that died half-way through the migration leaves both formats).
func TestJSONRecordsReadBeforeMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.db")
	writeJSONFile(t, path)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, &Store{db: db, cache: newRecordCache()})
	_ = db.Close()
}

// TestMigrationInBatches: more values than one migration transaction
// visits are all rewritten, across batches, mixed formats included.
func TestMigrationInBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.db")
	db, err := storage.OpenBolt(path, buckets...)
	if err != nil {
		t.Fatal(err)
	}
	const events = 2*migrateBatch + 7
	err = db.Update(func(tx *bolt.Tx) error {
		for i := range events {
			e := &domain.AuditEvent{Seq: uint64(i + 1), Company: "c1", Action: "user.update", Time: t1.Add(time.Duration(i))}
			raw, err := json.Marshal(e)
			if i%3 == 0 { // some already messages
				raw, err = auditCodec.encode(e)
			}
			if err != nil {
				return err
			}
			if err := tx.Bucket(bAudit).Put(append([]byte("c1\x00"), storage.U64(e.Seq)...), raw); err != nil {
				return err
			}
		}
		return nil
	})
	_ = db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.db.View(func(tx *bolt.Tx) error {
		n := 0
		_ = tx.Bucket(bAudit).ForEach(func(k, v []byte) error {
			n++
			e, err := auditCodec.dec(v) // a message, not JSON
			if err != nil || e.Seq != uint64(n) || !e.Time.Equal(t1.Add(time.Duration(n-1))) {
				t.Fatalf("event %d: %+v %v", n, e, err)
			}
			return nil
		})
		if n != events {
			t.Fatalf("%d events after the migration, want %d", n, events)
		}
		return nil
	})
}

// TestTimesOutOfRangeAreRefused: a time a message cannot hold is an error,
// never a silently different time.
func TestTimesOutOfRangeAreRefused(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "identity.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Update(context.Background(), func(tx domain.Tx) error {
		return tx.PutCompany(&domain.Company{ID: "c1", UpdateTime: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)})
	})
	if err == nil {
		t.Fatal("a time in year 3000 was stored")
	}
}

// TestRecordRoundTrip: every field of every record survives a write and a
// read as a message.
func TestRecordRoundTrip(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "identity.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, c, m, ses, lt, g, a, r, k, n, p := oneOfEach()
	err = s.Update(context.Background(), func(tx domain.Tx) error {
		a.Seq, r.Sequence = 0, 0 // assigned by the store (1 each)
		for _, put := range []func() error{
			func() error { return tx.PutLogin(l) }, func() error { return tx.PutCompany(c) },
			func() error { return tx.PutMembership(m) }, func() error { return tx.PutSession(ses) },
			func() error { return tx.PutLinkToken(lt) }, func() error { return tx.PutGrant(g) },
			func() error { return tx.AppendAudit(a) }, func() error { return tx.AppendRevocation(r) },
			func() error { return tx.PutSigningKey(k) }, func() error { return tx.PutNotification(n) },
			func() error { return tx.PutPendingSignUp(p) },
		} {
			if err := put(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, s)
}
