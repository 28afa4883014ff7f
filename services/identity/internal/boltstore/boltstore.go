// Package boltstore implements identity's domain.Store on bbolt. Buckets
// are declared once below; every secondary index is updated in the same
// transaction as its record. Values are the record messages of
// vigil.identity.storage.v1 (records.go; they hold fields, such as
// password hashes, that no public proto carries).
package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigil/vigil/services/identity/internal/domain"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/storage"
)

// Buckets, declared once.
var (
	bLogins        = storage.Bucket("logins")                // {user} → Login
	bLoginsByEmail = storage.Bucket("logins_by_email")       // email → {user}
	bCompanies     = storage.Bucket("companies")             // {company} → Company
	bMembers       = storage.Bucket("memberships")           // {company}\x00{user} → Membership
	bMembersByUser = storage.Bucket("memberships_by_user")   // {user}\x00{company} → ∅
	bSessions      = storage.Bucket("sessions")              // {session} → Session
	bSessionsByUsr = storage.Bucket("sessions_by_user")      // {user}\x00{session} → ∅
	bSessionsByExp = storage.Bucket("sessions_by_expiry")    // expiry ns (8 bytes){session} → ∅
	bLinkTokens    = storage.Bucket("link_tokens")           // sha256 → LinkToken
	bLinksByUser   = storage.Bucket("link_tokens_by_user")   // {user}\x00sha256 → ∅
	bLinksByExp    = storage.Bucket("link_tokens_by_expiry") // expiry ns (8 bytes)sha256 → ∅
	bGrants        = storage.Bucket("grants")                // {company}\x00{grant} → Grant
	bAudit         = storage.Bucket("audit_events")          // {company}\x00seq → AuditEvent
	bRevocations   = storage.Bucket("revocations")           // seq → RevocationEvent
	bKeys          = storage.Bucket("signing_keys")          // kid → SigningKey
	bOutbox        = storage.Bucket("outbox")                // seq\x00id → Notification
	bMeta          = storage.Bucket("meta")                  // name → value
	bEvents        = storage.Bucket("events")                // seq → vigil.events.v1.Event (runtime/feed)
	bPending       = storage.Bucket("pending_signups")       // {id} → PendingSignUp

	buckets = []storage.Bucket{bLogins, bLoginsByEmail, bCompanies, bMembers, bMembersByUser, bSessions,
		bSessionsByUsr, bSessionsByExp, bLinkTokens, bLinksByUser, bLinksByExp, bGrants, bAudit, bRevocations,
		bKeys, bOutbox, bMeta, bEvents, bPending}

	metaRevocationsPruned = []byte("revocations_pruned")

	events = storage.EventLog{Bucket: bEvents, Source: "identity"}
)

// Store is the bbolt store.
type Store struct {
	db    *bolt.DB
	cache *recordCache
}

// Open opens (or creates) the store at path.
func Open(path string) (*Store, error) {
	db, err := storage.OpenBolt(path, buckets...)
	if err != nil {
		return nil, err
	}
	if err := migrateRecords(db); err != nil {
		_ = db.Close()
		return nil, err
	}
	for _, index := range []func(*bolt.Tx) error{indexLinkTokens, indexExpiries} {
		if err := db.Update(index); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	return &Store{db: db, cache: newRecordCache()}, nil
}

// indexExpiries fills the expiry indexes for a file written before they
// existed, so that DeleteExpired finds every session and link token.
func indexExpiries(tx *bolt.Tx) error {
	if k, _ := tx.Bucket(bSessionsByExp).Cursor().First(); k == nil {
		err := tx.Bucket(bSessions).ForEach(func(k, v []byte) error {
			s, err := sessionCodec.decode(v)
			if err != nil {
				return fmt.Errorf("decode session: %w", err)
			}
			return tx.Bucket(bSessionsByExp).Put(sessionExpKey(s.ExpireTime, s.ID), nil)
		})
		if err != nil {
			return err
		}
	}
	if k, _ := tx.Bucket(bLinksByExp).Cursor().First(); k == nil {
		return tx.Bucket(bLinkTokens).ForEach(func(k, v []byte) error {
			lt, err := linkTokenCodec.decode(v)
			if err != nil {
				return fmt.Errorf("decode link token: %w", err)
			}
			return tx.Bucket(bLinksByExp).Put(linkExpKey(lt.ExpireTime, lt.Hash), nil)
		})
	}
	return nil
}

// expiry is the big-endian nanoseconds of t, which sort as t does (times
// before 1970 sort first).
func expiry(t time.Time) []byte {
	n := t.UnixNano()
	if n < 0 {
		n = 0
	}
	return storage.U64(uint64(n))
}

func sessionExpKey(t time.Time, id string) []byte { return append(expiry(t), []byte(id)...) }

func linkExpKey(t time.Time, h [32]byte) []byte { return append(expiry(t), h[:]...) }

// indexLinkTokens fills link_tokens_by_user for a file written before the
// index existed, so that no link token escapes UserLinkTokens.
func indexLinkTokens(tx *bolt.Tx) error {
	idx := tx.Bucket(bLinksByUser)
	if k, _ := idx.Cursor().First(); k != nil {
		return nil
	}
	return tx.Bucket(bLinkTokens).ForEach(func(k, v []byte) error {
		lt, err := linkTokenCodec.decode(v)
		if err != nil {
			return fmt.Errorf("decode link token: %w", err)
		}
		return idx.Put(append([]byte(lt.User+"\x00"), k...), nil)
	})
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// View implements domain.Store.
func (s *Store) View(ctx context.Context, fn func(domain.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error { return fn(&txn{tx: tx, cache: s.cache, snapshot: uint64(tx.ID())}) })
}

// Update implements domain.Store.
func (s *Store) Update(ctx context.Context, fn func(domain.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := &txn{cache: s.cache, writes: map[string]bool{}}
	var id, committed uint64
	defer func() { s.cache.written(t.writes, committed) }() // also after a panic
	err := s.db.Update(func(tx *bolt.Tx) error {
		t.tx, id = tx, uint64(tx.ID())
		return fn(t)
	})
	if err == nil {
		committed = id
	}
	return err
}

// txn is one transaction: a read one reads logins and memberships through
// the cache; a write one (writes set) marks those it writes (cache.go).
type txn struct {
	tx       *bolt.Tx
	cache    *recordCache
	snapshot uint64          // read: the last commit the transaction sees
	writes   map[string]bool // write: the cached records it changes
}

// cached reports whether reads go through the cache (read transactions).
func (t *txn) cached() bool { return t.writes == nil }

func (t *txn) b(name storage.Bucket) *bolt.Bucket { return t.tx.Bucket(name) }

func get[T any](t *txn, b storage.Bucket, key []byte, c codec[T]) (*T, error) {
	v := t.b(b).Get(key)
	if v == nil {
		return nil, domain.ErrNotFound
	}
	out, err := c.decode(v)
	if err != nil {
		return nil, fmt.Errorf("decode %s/%q: %w", b, key, err)
	}
	return out, nil
}

func put[T any](t *txn, b storage.Bucket, key []byte, v *T, c codec[T]) error {
	raw, err := c.encode(v)
	if err != nil {
		return err
	}
	return t.b(b).Put(key, raw)
}

// list decodes every value under prefix, in key order.
func list[T any](t *txn, b storage.Bucket, prefix []byte, c codec[T]) ([]*T, error) {
	var out []*T
	cur := t.b(b).Cursor()
	for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
		item, err := c.decode(v)
		if err != nil {
			return nil, fmt.Errorf("decode %s/%q: %w", b, k, err)
		}
		out = append(out, item)
	}
	return out, nil
}

func pair(a, b string) []byte { return []byte(a + "\x00" + b) }

// ---- logins

func (t *txn) Login(id string) (*domain.Login, error) {
	if t.cached() {
		if l, ok := t.cache.login(t.snapshot, id); ok {
			return l, nil
		}
	}
	l, err := get(t, bLogins, []byte(id), loginCodec)
	if err == nil && t.cached() {
		t.cache.fillLogin(t.snapshot, l)
	}
	return l, err
}

func (t *txn) LoginByEmail(email string) (*domain.Login, error) {
	id := t.b(bLoginsByEmail).Get([]byte(email))
	if id == nil {
		return nil, domain.ErrNotFound
	}
	return t.Login(string(id))
}

func (t *txn) PutLogin(l *domain.Login) error {
	idx := t.b(bLoginsByEmail)
	if owner := idx.Get([]byte(l.Email)); owner != nil && string(owner) != l.ID {
		return domain.ErrEmailTaken
	}
	if old, err := t.Login(l.ID); err == nil && old.Email != l.Email {
		if err := idx.Delete([]byte(old.Email)); err != nil {
			return err
		}
	}
	if err := idx.Put([]byte(l.Email), []byte(l.ID)); err != nil {
		return err
	}
	t.cache.writing("l"+l.ID, t.writes)
	return put(t, bLogins, []byte(l.ID), l, loginCodec)
}

func (t *txn) DeleteLogin(id string) error {
	l, err := t.Login(id)
	if errors.Is(err, domain.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := t.b(bLoginsByEmail).Delete([]byte(l.Email)); err != nil {
		return err
	}
	t.cache.writing("l"+id, t.writes)
	return t.b(bLogins).Delete([]byte(id))
}

func (t *txn) LoginsAfter(after string, limit int) ([]*domain.Login, error) {
	var out []*domain.Login
	c := t.b(bLogins).Cursor()
	k, v := c.Seek([]byte(after))
	if k != nil && string(k) == after {
		k, v = c.Next()
	}
	for ; k != nil && len(out) < limit; k, v = c.Next() {
		l, err := loginCodec.decode(v)
		if err != nil {
			return nil, fmt.Errorf("decode login %q: %w", k, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// ---- companies

func (t *txn) Company(id string) (*domain.Company, error) {
	return get(t, bCompanies, []byte(id), companyCodec)
}

func (t *txn) PutCompany(c *domain.Company) error {
	return put(t, bCompanies, []byte(c.ID), c, companyCodec)
}

// ---- memberships

func (t *txn) Membership(company, user string) (*domain.Membership, error) {
	key := company + "\x00" + user // pair's bytes, as the cache's key
	if t.cached() {
		if m, ok := t.cache.member(t.snapshot, key); ok {
			return m, nil
		}
	}
	m, err := get(t, bMembers, []byte(key), membershipCodec)
	if err == nil && t.cached() {
		t.cache.fillMember(t.snapshot, key, m)
	}
	return m, err
}

func (t *txn) PutMembership(m *domain.Membership) error {
	if err := t.b(bMembersByUser).Put(pair(m.User, m.Company), nil); err != nil {
		return err
	}
	key := pair(m.Company, m.User)
	t.cache.writing("m"+string(key), t.writes)
	return put(t, bMembers, key, m, membershipCodec)
}

func (t *txn) DeleteMembership(company, user string) error {
	if err := t.b(bMembersByUser).Delete(pair(user, company)); err != nil {
		return err
	}
	key := pair(company, user)
	t.cache.writing("m"+string(key), t.writes)
	return t.b(bMembers).Delete(key)
}

func (t *txn) CompanyMembers(company string) ([]*domain.Membership, error) {
	return list(t, bMembers, []byte(company+"\x00"), membershipCodec)
}

func (t *txn) MembersAfter(company, afterCompany, afterUser string, limit int) ([]*domain.Membership, error) {
	var prefix []byte
	if company != "" {
		prefix = []byte(company + "\x00")
	}
	c := t.b(bMembers).Cursor()
	var k, v []byte
	if afterCompany == "" {
		k, v = c.Seek(prefix)
	} else {
		from := pair(afterCompany, afterUser)
		if k, v = c.Seek(from); k != nil && bytes.Equal(k, from) {
			k, v = c.Next()
		}
	}
	var out []*domain.Membership
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
		m, err := membershipCodec.decode(v)
		if err != nil {
			return nil, fmt.Errorf("decode membership %q: %w", k, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func (t *txn) UserMemberships(user string) ([]*domain.Membership, error) {
	var out []*domain.Membership
	prefix := []byte(user + "\x00")
	c := t.b(bMembersByUser).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		m, err := t.Membership(string(k[len(prefix):]), user)
		if err != nil {
			return nil, fmt.Errorf("membership index: %w", err)
		}
		out = append(out, m)
	}
	return out, nil
}

// ---- sessions

func (t *txn) Session(id string) (*domain.Session, error) {
	return get(t, bSessions, []byte(id), sessionCodec)
}

func (t *txn) PutSession(s *domain.Session) error {
	if old, err := t.Session(s.ID); err == nil && !old.ExpireTime.Equal(s.ExpireTime) {
		if err := t.b(bSessionsByExp).Delete(sessionExpKey(old.ExpireTime, old.ID)); err != nil {
			return err
		}
	}
	if err := t.b(bSessionsByUsr).Put(pair(s.User, s.ID), nil); err != nil {
		return err
	}
	if err := t.b(bSessionsByExp).Put(sessionExpKey(s.ExpireTime, s.ID), nil); err != nil {
		return err
	}
	return put(t, bSessions, []byte(s.ID), s, sessionCodec)
}

func (t *txn) DeleteSession(id string) error {
	s, err := t.Session(id)
	if errors.Is(err, domain.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := t.b(bSessionsByUsr).Delete(pair(s.User, s.ID)); err != nil {
		return err
	}
	if err := t.b(bSessionsByExp).Delete(sessionExpKey(s.ExpireTime, s.ID)); err != nil {
		return err
	}
	return t.b(bSessions).Delete([]byte(id))
}

func (t *txn) UserSessions(user string) ([]*domain.Session, error) {
	var out []*domain.Session
	prefix := []byte(user + "\x00")
	c := t.b(bSessionsByUsr).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		s, err := t.Session(string(k[len(prefix):]))
		if err != nil {
			return nil, fmt.Errorf("session index: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}

// ---- link tokens

func (t *txn) LinkToken(hash [32]byte) (*domain.LinkToken, error) {
	return get(t, bLinkTokens, hash[:], linkTokenCodec)
}

func linkKey(user string, hash [32]byte) []byte { return append([]byte(user+"\x00"), hash[:]...) }

func (t *txn) PutLinkToken(lt *domain.LinkToken) error {
	if old, err := t.LinkToken(lt.Hash); err == nil && !old.ExpireTime.Equal(lt.ExpireTime) {
		if err := t.b(bLinksByExp).Delete(linkExpKey(old.ExpireTime, old.Hash)); err != nil {
			return err
		}
	}
	if err := t.b(bLinksByUser).Put(linkKey(lt.User, lt.Hash), nil); err != nil {
		return err
	}
	if err := t.b(bLinksByExp).Put(linkExpKey(lt.ExpireTime, lt.Hash), nil); err != nil {
		return err
	}
	return put(t, bLinkTokens, lt.Hash[:], lt, linkTokenCodec)
}

func (t *txn) DeleteLinkToken(hash [32]byte) error {
	lt, err := t.LinkToken(hash)
	if errors.Is(err, domain.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := t.b(bLinksByUser).Delete(linkKey(lt.User, hash)); err != nil {
		return err
	}
	if err := t.b(bLinksByExp).Delete(linkExpKey(lt.ExpireTime, hash)); err != nil {
		return err
	}
	return t.b(bLinkTokens).Delete(hash[:])
}

func (t *txn) UserLinkTokens(user string) ([]*domain.LinkToken, error) {
	var out []*domain.LinkToken
	prefix := []byte(user + "\x00")
	c := t.b(bLinksByUser).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		lt, err := get(t, bLinkTokens, k[len(prefix):], linkTokenCodec)
		if err != nil {
			return nil, fmt.Errorf("link token index: %w", err)
		}
		out = append(out, lt)
	}
	return out, nil
}

// ---- grants

func (t *txn) Grant(company, id string) (*domain.Grant, error) {
	return get(t, bGrants, pair(company, id), grantCodec)
}

func (t *txn) PutGrant(g *domain.Grant) error {
	return put(t, bGrants, pair(g.Company, g.ID), g, grantCodec)
}

func (t *txn) DeleteGrant(company, id string) error { return t.b(bGrants).Delete(pair(company, id)) }

func (t *txn) Grants(company string) ([]*domain.Grant, error) {
	return list(t, bGrants, []byte(company+"\x00"), grantCodec)
}

// ---- audit

func (t *txn) AppendAudit(e *domain.AuditEvent) error {
	seq, err := t.b(bAudit).NextSequence()
	if err != nil {
		return err
	}
	e.Seq = seq
	return put(t, bAudit, append([]byte(e.Company+"\x00"), storage.U64(seq)...), e, auditCodec)
}

func (t *txn) AuditEvents(company string, before uint64, limit int) ([]*domain.AuditEvent, error) {
	prefix := []byte(company + "\x00")
	c := t.b(bAudit).Cursor()
	var k, v []byte
	if before == 0 {
		// Position after the company's last key, then step back.
		k, v = c.Seek(append(append([]byte(nil), prefix...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
	} else {
		k, v = c.Seek(append(append([]byte(nil), prefix...), storage.U64(before)...))
	}
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	var out []*domain.AuditEvent
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Prev() {
		e, err := auditCodec.decode(v)
		if err != nil {
			return nil, fmt.Errorf("decode audit event: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// ---- revocations

func (t *txn) AppendRevocation(e *domain.RevocationEvent) error {
	seq, err := t.b(bRevocations).NextSequence()
	if err != nil {
		return err
	}
	e.Sequence = seq
	return put(t, bRevocations, storage.U64(seq), e, revocationCodec)
}

func (t *txn) Revocations(after uint64, limit int) ([]*domain.RevocationEvent, error) {
	var out []*domain.RevocationEvent
	c := t.b(bRevocations).Cursor()
	for k, v := c.Seek(storage.U64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		e, err := revocationCodec.decode(v)
		if err != nil {
			return nil, fmt.Errorf("decode revocation: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

func (t *txn) RevocationBounds() (uint64, uint64, error) {
	return storage.GetU64(t.tx, bMeta, metaRevocationsPruned), t.b(bRevocations).Sequence(), nil
}

func (t *txn) PruneRevocations(before time.Time) error {
	b := t.b(bRevocations)
	c := b.Cursor()
	var pruned uint64
	for k, v := c.First(); k != nil; k, v = c.First() {
		e, err := revocationCodec.decode(v)
		if err != nil {
			return fmt.Errorf("decode revocation: %w", err)
		}
		if !e.NotBefore.Before(before) {
			break
		}
		pruned = e.Sequence
		if err := c.Delete(); err != nil {
			return err
		}
	}
	if pruned == 0 {
		return nil
	}
	return storage.PutU64(t.tx, bMeta, metaRevocationsPruned, pruned)
}

// ---- signing keys

func (t *txn) SigningKeys() ([]*domain.SigningKey, error) {
	return list(t, bKeys, nil, signingKeyCodec)
}

func (t *txn) PutSigningKey(k *domain.SigningKey) error {
	return put(t, bKeys, []byte(k.ID), k, signingKeyCodec)
}

func (t *txn) DeleteSigningKey(id string) error { return t.b(bKeys).Delete([]byte(id)) }

// ---- outbox

func (t *txn) PutNotification(n *domain.Notification) error {
	seq, err := t.b(bOutbox).NextSequence()
	if err != nil {
		return err
	}
	return put(t, bOutbox, append(storage.U64(seq), []byte(n.ID)...), n, notificationCodec)
}

func (t *txn) Notifications(limit int) ([]*domain.Notification, error) {
	var out []*domain.Notification
	c := t.b(bOutbox).Cursor()
	for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
		n, err := notificationCodec.decode(v)
		if err != nil {
			return nil, fmt.Errorf("decode notification: %w", err)
		}
		out = append(out, n)
	}
	return out, nil
}

func (t *txn) DeleteNotification(id string) error {
	c := t.b(bOutbox).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) > 8 && string(k[8:]) == id {
			return c.Delete()
		}
	}
	return nil
}

// ---- expiry

// DeleteExpired reads the expiry indexes from their start up to now.
func (t *txn) DeleteExpired(now time.Time) error {
	limit := expiry(now)
	// Keys are collected first: deleting under a bbolt cursor skips keys.
	expired := dueKeys(t.b(bSessionsByExp), limit)
	for _, k := range expired {
		if err := t.DeleteSession(string(k[8:])); err != nil {
			return err
		}
		if err := t.b(bSessionsByExp).Delete(k); err != nil { // a stale entry goes too
			return err
		}
	}
	for _, k := range dueKeys(t.b(bLinksByExp), limit) {
		var h [32]byte
		copy(h[:], k[8:])
		if err := t.DeleteLinkToken(h); err != nil {
			return err
		}
		if err := t.b(bLinksByExp).Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// dueKeys copies the keys of an expiry index up to limit (inclusive).
func dueKeys(b *bolt.Bucket, limit []byte) [][]byte {
	var out [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(k) >= 8 && bytes.Compare(k[:8], limit) <= 0; k, _ = c.Next() {
		out = append(out, storage.Copy(k))
	}
	return out
}

// ---- event feed (runtime/feed)

func (t *txn) AppendEvent(e *feed.Event) error { return events.Append(t.tx, e) }

func (t *txn) PruneEvents(before time.Time, limit int) (int, error) {
	return events.Prune(t.tx, before, limit)
}

// EventsAfter implements feed.Log.
func (s *Store) EventsAfter(ctx context.Context, after uint64, limit int) ([]feed.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []feed.Event
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = events.After(tx, after, limit)
		return err
	})
	return out, err
}

// PrunedThrough implements feed.Log.
func (s *Store) PrunedThrough(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		n = events.PrunedThrough(tx)
		return nil
	})
	return n, err
}

// ---- pending sign-ups

func (t *txn) PutPendingSignUp(p *domain.PendingSignUp) error {
	return put(t, bPending, []byte(p.ID), p, pendingCodec)
}

func (t *txn) PendingSignUp(id string) (*domain.PendingSignUp, error) {
	return get(t, bPending, []byte(id), pendingCodec)
}

func (t *txn) DeletePendingSignUp(id string) error { return t.b(bPending).Delete([]byte(id)) }

// ExpiredPendingSignUps reads the whole bucket: it holds only the sign-ups
// in flight (a handful), and runs in the background, never on a request.
func (t *txn) ExpiredPendingSignUps(now time.Time, limit int) ([]*domain.PendingSignUp, error) {
	all, err := list(t, bPending, nil, pendingCodec)
	if err != nil {
		return nil, err
	}
	var out []*domain.PendingSignUp
	for _, p := range all {
		if !now.Before(p.ExpireTime) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ExpireTime.Before(out[j].ExpireTime) })
	return out[:min(len(out), limit)], nil
}

// ---- flags

func (t *txn) Flag(name string) (bool, error) {
	return t.b(bMeta).Get([]byte("flag:"+name)) != nil, nil
}

func (t *txn) SetFlag(name string) error { return t.b(bMeta).Put([]byte("flag:"+name), []byte{1}) }

var _ domain.Store = (*Store)(nil)
