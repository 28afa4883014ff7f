// Package storetest is the conformance suite every implementation of
// identity's domain.Store must pass; each implementation runs it from its
// own tests with a factory of empty stores.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vigil/vigil/services/identity/internal/domain"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/feed"
)

// Factory returns a new, empty, open store; the suite closes it.
type Factory func(t *testing.T) domain.Store

// Run runs the whole suite.
func Run(t *testing.T, newStore Factory) {
	tests := map[string]func(*testing.T, domain.Store){
		"Logins":        testLogins,
		"Memberships":   testMemberships,
		"Sessions":      testSessions,
		"LinkTokens":    testLinkTokens,
		"Grants":        testGrants,
		"Audit":         testAudit,
		"Revocations":   testRevocations,
		"SigningKeys":   testSigningKeys,
		"Notifications": testNotifications,
		"Rollback":      testRollback,
		"Companies":     testCompanies,
		"LoginsAfter":   testLoginsAfter,
		"MembersAfter":  testMembersAfter,
		"ExpiryIndex":   testExpiryIndex,
		"Events":        testEvents,
		"PendingSignUp": testPendingSignUps,
		"Flags":         testFlags,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { _ = s.Close() })
			fn(t, s)
		})
	}
}

var ctx = context.Background()

func update(t *testing.T, s domain.Store, fn func(domain.Tx) error) {
	t.Helper()
	if err := s.Update(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func view(t *testing.T, s domain.Store, fn func(domain.Tx) error) {
	t.Helper()
	if err := s.View(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func testLogins(t *testing.T, s domain.Store) {
	update(t, s, func(tx domain.Tx) error {
		return tx.PutLogin(&domain.Login{ID: "u1", Email: "a@x.test", Profile: domain.Profile{GivenName: "Ann"}, PasswordHash: "h",
			TOTPSealed: []byte{1, 2}, EmailUndeliverable: "550", EmailUndeliverableTime: t0, CreateTime: t0})
	})
	view(t, s, func(tx domain.Tx) error {
		l, err := tx.LoginByEmail("a@x.test")
		if err != nil || l.ID != "u1" || l.GivenName != "Ann" || string(l.TOTPSealed) != "\x01\x02" || !l.CreateTime.Equal(t0) ||
			l.EmailUndeliverable != "550" || !l.EmailUndeliverableTime.Equal(t0) {
			t.Fatalf("by email: %+v %v", l, err)
		}
		if _, err := tx.LoginByEmail("b@x.test"); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("unknown e-mail: %v", err)
		}
		return nil
	})
	// Another login may not take the e-mail.
	err := s.Update(ctx, func(tx domain.Tx) error { return tx.PutLogin(&domain.Login{ID: "u2", Email: "a@x.test"}) })
	if !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("duplicate e-mail: %v", err)
	}
	// Changing the e-mail moves the index entry.
	update(t, s, func(tx domain.Tx) error {
		l, err := tx.Login("u1")
		if err != nil {
			return err
		}
		l.Email = "new@x.test"
		return tx.PutLogin(l)
	})
	view(t, s, func(tx domain.Tx) error {
		if _, err := tx.LoginByEmail("a@x.test"); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("old e-mail still indexed: %v", err)
		}
		if l, err := tx.LoginByEmail("new@x.test"); err != nil || l.ID != "u1" {
			t.Fatalf("new e-mail: %v", err)
		}
		return nil
	})
	update(t, s, func(tx domain.Tx) error { return tx.DeleteLogin("u1") })
	view(t, s, func(tx domain.Tx) error {
		if _, err := tx.LoginByEmail("new@x.test"); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("deleted login still indexed: %v", err)
		}
		return nil
	})
}

func testCompanies(t *testing.T, s domain.Store) {
	update(t, s, func(tx domain.Tx) error {
		return tx.PutCompany(&domain.Company{ID: "c1", Kind: authz.KindSupplier, RequireTwoFactor: true})
	})
	view(t, s, func(tx domain.Tx) error {
		c, err := tx.Company("c1")
		if err != nil || !c.RequireTwoFactor || c.Kind != authz.KindSupplier {
			t.Fatalf("company: %+v %v", c, err)
		}
		if _, err := tx.Company("c2"); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("unknown company: %v", err)
		}
		return nil
	})
}

func testMemberships(t *testing.T, s domain.Store) {
	update(t, s, func(tx domain.Tx) error {
		for _, m := range []*domain.Membership{
			{Company: "c1", User: "u1", Role: authz.RoleAdministrator, Profile: domain.Profile{GivenName: "Shown", Phone: "+33"}, ActiveSince: t0},
			{Company: "c1", User: "u2", Role: authz.RolePower},
			{Company: "c2", User: "u1", Role: authz.RoleRestricted},
			{Company: "c10", User: "u1"},
		} {
			if err := tx.PutMembership(m); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx domain.Tx) error {
		ms, _ := tx.CompanyMembers("c1")
		if len(ms) != 2 || ms[0].User != "u1" || ms[1].User != "u2" {
			t.Fatalf("c1 members: %+v", ms)
		}
		us, _ := tx.UserMemberships("u1")
		if len(us) != 3 {
			t.Fatalf("u1 memberships: %d", len(us))
		}
		m, err := tx.Membership("c2", "u1")
		if err != nil || m.Role != authz.RoleRestricted {
			t.Fatalf("membership: %+v %v", m, err)
		}
		if m, _ := tx.Membership("c1", "u1"); m.GivenName != "Shown" || m.Phone != "+33" || !m.ActiveSince.Equal(t0) {
			t.Fatalf("membership profile: %+v", m)
		}
		return nil
	})
	update(t, s, func(tx domain.Tx) error { return tx.DeleteMembership("c1", "u1") })
	view(t, s, func(tx domain.Tx) error {
		if _, err := tx.Membership("c1", "u1"); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("deleted membership: %v", err)
		}
		us, _ := tx.UserMemberships("u1")
		if len(us) != 2 {
			t.Fatalf("index not updated: %d", len(us))
		}
		return nil
	})
}

func testSessions(t *testing.T, s domain.Store) {
	update(t, s, func(tx domain.Tx) error {
		for i, id := range []string{"s1", "s2", "s3"} {
			user := "u1"
			if id == "s3" {
				user = "u2"
			}
			if err := tx.PutSession(&domain.Session{ID: id, User: user, RefreshHash: [32]byte{byte(i)},
				Spent: [][32]byte{{9}}, ExpireTime: t0.Add(time.Duration(i) * time.Hour)}); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx domain.Tx) error {
		ss, _ := tx.UserSessions("u1")
		if len(ss) != 2 {
			t.Fatalf("u1 sessions: %d", len(ss))
		}
		s2, err := tx.Session("s2")
		if err != nil || s2.RefreshHash[0] != 1 || len(s2.Spent) != 1 || s2.Spent[0][0] != 9 {
			t.Fatalf("session: %+v %v", s2, err)
		}
		return nil
	})
	// s1 expires at t0, s2 an hour later.
	update(t, s, func(tx domain.Tx) error { return tx.DeleteExpired(t0.Add(time.Minute)) })
	view(t, s, func(tx domain.Tx) error {
		if _, err := tx.Session("s1"); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("expired session kept: %v", err)
		}
		ss, _ := tx.UserSessions("u1")
		if len(ss) != 1 || ss[0].ID != "s2" {
			t.Fatalf("index after expiry: %+v", ss)
		}
		return nil
	})
	update(t, s, func(tx domain.Tx) error { return tx.DeleteSession("s2") })
	view(t, s, func(tx domain.Tx) error {
		if ss, _ := tx.UserSessions("u1"); len(ss) != 0 {
			t.Fatalf("deleted session indexed")
		}
		return nil
	})
}

func testLinkTokens(t *testing.T, s domain.Store) {
	h1, h2 := [32]byte{1}, [32]byte{2}
	update(t, s, func(tx domain.Tx) error {
		if err := tx.PutLinkToken(&domain.LinkToken{Hash: h1, Kind: domain.LinkReset, User: "u1", ExpireTime: t0}); err != nil {
			return err
		}
		return tx.PutLinkToken(&domain.LinkToken{Hash: h2, Kind: domain.LinkInvitation, User: "u1", Company: "c1", ExpireTime: t0.Add(time.Hour)})
	})
	update(t, s, func(tx domain.Tx) error { return tx.DeleteExpired(t0) })
	view(t, s, func(tx domain.Tx) error {
		if _, err := tx.LinkToken(h1); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("expired token kept: %v", err)
		}
		lt, err := tx.LinkToken(h2)
		if err != nil || lt.Kind != domain.LinkInvitation || lt.Company != "c1" {
			t.Fatalf("token: %+v %v", lt, err)
		}
		if own, err := tx.UserLinkTokens("u1"); err != nil || len(own) != 1 || own[0].Hash != h2 {
			t.Fatalf("u1's tokens after expiry: %+v %v", own, err)
		}
		return nil
	})
	update(t, s, func(tx domain.Tx) error {
		return tx.PutLinkToken(&domain.LinkToken{Hash: [32]byte{3}, Kind: domain.LinkReset, User: "u2", ExpireTime: t0.Add(time.Hour)})
	})
	update(t, s, func(tx domain.Tx) error { return tx.DeleteLinkToken(h2) })
	view(t, s, func(tx domain.Tx) error {
		if _, err := tx.LinkToken(h2); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("deleted token: %v", err)
		}
		if own, err := tx.UserLinkTokens("u1"); err != nil || len(own) != 0 {
			t.Fatalf("deleted token still indexed: %+v %v", own, err)
		}
		if other, err := tx.UserLinkTokens("u2"); err != nil || len(other) != 1 || other[0].User != "u2" {
			t.Fatalf("u2's tokens: %+v %v", other, err)
		}
		return nil
	})
}

func testGrants(t *testing.T, s domain.Store) {
	update(t, s, func(tx domain.Tx) error {
		for _, g := range []*domain.Grant{{ID: "g1", Company: "c1", User: "u1"}, {ID: "g2", Company: "c1", User: "u2"}, {ID: "g3", Company: "c2", User: "u1"}} {
			if err := tx.PutGrant(g); err != nil {
				return err
			}
		}
		return tx.DeleteGrant("c1", "g1")
	})
	view(t, s, func(tx domain.Tx) error {
		gs, _ := tx.Grants("c1")
		if len(gs) != 1 || gs[0].ID != "g2" {
			t.Fatalf("grants: %+v", gs)
		}
		if _, err := tx.Grant("c2", "g3"); err != nil {
			t.Fatal(err)
		}
		return nil
	})
}

func testAudit(t *testing.T, s domain.Store) {
	update(t, s, func(tx domain.Tx) error {
		for i := 0; i < 5; i++ {
			for _, c := range []string{"c1", "c2", "c10"} {
				if err := tx.AppendAudit(&domain.AuditEvent{Company: c, Action: "a", Detail: map[string]string{"i": string(rune('0' + i))}}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	view(t, s, func(tx domain.Tx) error {
		all, _ := tx.AuditEvents("c1", 0, 100)
		if len(all) != 5 {
			t.Fatalf("c1 events: %d", len(all))
		}
		for i := 1; i < len(all); i++ {
			if all[i].Seq >= all[i-1].Seq || all[i].Company != "c1" {
				t.Fatalf("not newest first: %d then %d", all[i-1].Seq, all[i].Seq)
			}
		}
		page, _ := tx.AuditEvents("c1", all[1].Seq, 2)
		if len(page) != 2 || page[0].Seq != all[2].Seq || page[1].Seq != all[3].Seq {
			t.Fatalf("page before %d: %+v", all[1].Seq, page)
		}
		last, _ := tx.AuditEvents("c10", 0, 100)
		if len(last) != 5 || last[0].Detail["i"] != "4" {
			t.Fatalf("c10 events: %+v", last)
		}
		return nil
	})
}

func testRevocations(t *testing.T, s domain.Store) {
	update(t, s, func(tx domain.Tx) error {
		for i := 0; i < 4; i++ {
			ev := &domain.RevocationEvent{User: "users/u1", Kind: auth.RevokeSessions, NotBefore: t0.Add(time.Duration(i) * time.Minute)}
			if err := tx.AppendRevocation(ev); err != nil {
				return err
			}
			if ev.Sequence != uint64(i+1) {
				t.Fatalf("seq %d, want %d", ev.Sequence, i+1)
			}
		}
		return nil
	})
	view(t, s, func(tx domain.Tx) error {
		evs, _ := tx.Revocations(1, 2)
		if len(evs) != 2 || evs[0].Sequence != 2 || evs[1].Sequence != 3 {
			t.Fatalf("after 1: %+v", evs)
		}
		pruned, last, _ := tx.RevocationBounds()
		if pruned != 0 || last != 4 {
			t.Fatalf("bounds %d %d", pruned, last)
		}
		return nil
	})
	update(t, s, func(tx domain.Tx) error { return tx.PruneRevocations(t0.Add(2 * time.Minute)) })
	view(t, s, func(tx domain.Tx) error {
		pruned, last, _ := tx.RevocationBounds()
		if pruned != 2 || last != 4 {
			t.Fatalf("bounds after prune %d %d", pruned, last)
		}
		evs, _ := tx.Revocations(0, 10)
		if len(evs) != 2 || evs[0].Sequence != 3 {
			t.Fatalf("retained: %+v", evs)
		}
		return nil
	})
	// Sequences keep increasing after pruning everything.
	update(t, s, func(tx domain.Tx) error { return tx.PruneRevocations(t0.Add(time.Hour)) })
	update(t, s, func(tx domain.Tx) error {
		ev := &domain.RevocationEvent{User: "users/u1", NotBefore: t0.Add(2 * time.Hour)}
		if err := tx.AppendRevocation(ev); err != nil {
			return err
		}
		if ev.Sequence != 5 {
			t.Fatalf("seq after prune: %d", ev.Sequence)
		}
		return nil
	})
}

func testSigningKeys(t *testing.T, s domain.Store) {
	update(t, s, func(tx domain.Tx) error {
		if err := tx.PutSigningKey(&domain.SigningKey{ID: "k1", Seed: make([]byte, 32), CreateTime: t0}); err != nil {
			return err
		}
		return tx.PutSigningKey(&domain.SigningKey{ID: "k2", Seed: make([]byte, 32), CreateTime: t0})
	})
	update(t, s, func(tx domain.Tx) error { return tx.DeleteSigningKey("k1") })
	view(t, s, func(tx domain.Tx) error {
		ks, _ := tx.SigningKeys()
		if len(ks) != 1 || ks[0].ID != "k2" || len(ks[0].Seed) != 32 {
			t.Fatalf("keys: %+v", ks)
		}
		return nil
	})
}

func testNotifications(t *testing.T, s domain.Store) {
	update(t, s, func(tx domain.Tx) error {
		for _, id := range []string{"zz", "aa", "mm"} {
			if err := tx.PutNotification(&domain.Notification{ID: id, Data: map[string]string{"k": id}, Link: domain.LinkReset}); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, s, func(tx domain.Tx) error { return tx.DeleteNotification("aa") })
	view(t, s, func(tx domain.Tx) error {
		ns, _ := tx.Notifications(10)
		if len(ns) != 2 || ns[0].ID != "zz" || ns[1].ID != "mm" || ns[1].Data["k"] != "mm" || ns[0].Link != domain.LinkReset {
			t.Fatalf("outbox order: %+v", ns)
		}
		return nil
	})
}

func testRollback(t *testing.T, s domain.Store) {
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx domain.Tx) error {
		if err := tx.PutLogin(&domain.Login{ID: "u1", Email: "a@x.test"}); err != nil {
			return err
		}
		if err := tx.AppendRevocation(&domain.RevocationEvent{User: "users/u1"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update error: %v", err)
	}
	view(t, s, func(tx domain.Tx) error {
		if _, err := tx.LoginByEmail("a@x.test"); !errors.Is(err, domain.ErrNotFound) {
			t.Fatal("rolled-back login visible")
		}
		if evs, _ := tx.Revocations(0, 10); len(evs) != 0 {
			t.Fatal("rolled-back revocation visible")
		}
		return nil
	})
}

func testLoginsAfter(t *testing.T, s domain.Store) {
	update(t, s, func(tx domain.Tx) error {
		for i := 0; i < 5; i++ {
			if err := tx.PutLogin(&domain.Login{ID: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("%d@x.test", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx domain.Tx) error {
		var got []string
		after := ""
		for {
			page, err := tx.LoginsAfter(after, 2)
			if err != nil {
				return err
			}
			for _, l := range page {
				got = append(got, l.ID)
				after = l.ID
			}
			if len(page) < 2 {
				break
			}
		}
		if fmt.Sprint(got) != "[u0 u1 u2 u3 u4]" {
			t.Fatalf("logins paged: %v", got)
		}
		return nil
	})
}

func testMembersAfter(t *testing.T, s domain.Store) {
	update(t, s, func(tx domain.Tx) error {
		for _, c := range []string{"c2", "c1", "c10"} {
			for _, u := range []string{"u2", "u1"} {
				if err := tx.PutMembership(&domain.Membership{Company: c, User: u}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	walk := func(company string, size int) []string {
		var got []string
		ac, au := "", ""
		view(t, s, func(tx domain.Tx) error {
			for {
				page, err := tx.MembersAfter(company, ac, au, size)
				if err != nil {
					return err
				}
				for _, m := range page {
					got = append(got, m.Company+"/"+m.User)
					ac, au = m.Company, m.User
				}
				if len(page) < size {
					return nil
				}
			}
		})
		return got
	}
	if got := fmt.Sprint(walk("", 2)); got != "[c1/u1 c1/u2 c10/u1 c10/u2 c2/u1 c2/u2]" {
		t.Fatalf("every company, by company then user: %s", got)
	}
	if got := fmt.Sprint(walk("c1", 1)); got != "[c1/u1 c1/u2]" {
		t.Fatalf("one company (not c10): %s", got)
	}
}

func testExpiryIndex(t *testing.T, s domain.Store) {
	update(t, s, func(tx domain.Tx) error {
		for i, id := range []string{"s1", "s2"} {
			if err := tx.PutSession(&domain.Session{ID: id, User: "u1", ExpireTime: t0.Add(time.Duration(i) * time.Hour)}); err != nil {
				return err
			}
		}
		return tx.PutLinkToken(&domain.LinkToken{Hash: [32]byte{7}, User: "u1", ExpireTime: t0})
	})
	// A refresh pushes s1's expiry past s2's: the index follows.
	update(t, s, func(tx domain.Tx) error {
		s1, err := tx.Session("s1")
		if err != nil {
			return err
		}
		s1.ExpireTime = t0.Add(2 * time.Hour)
		return tx.PutSession(s1)
	})
	update(t, s, func(tx domain.Tx) error { return tx.DeleteExpired(t0.Add(90 * time.Minute)) })
	view(t, s, func(tx domain.Tx) error {
		if _, err := tx.Session("s1"); err != nil {
			t.Fatalf("refreshed session deleted at its old expiry: %v", err)
		}
		if _, err := tx.Session("s2"); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("expired session kept: %v", err)
		}
		if _, err := tx.LinkToken([32]byte{7}); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("expired link token kept: %v", err)
		}
		return nil
	})
	update(t, s, func(tx domain.Tx) error { return tx.DeleteExpired(t0.Add(3 * time.Hour)) })
	view(t, s, func(tx domain.Tx) error {
		if ss, _ := tx.UserSessions("u1"); len(ss) != 0 {
			t.Fatalf("sessions left: %+v", ss)
		}
		return nil
	})
}

func testEvents(t *testing.T, s domain.Store) {
	update(t, s, func(tx domain.Tx) error {
		for i := 0; i < 3; i++ {
			e := &feed.Event{Type: feed.TypeUserDeactivated, Company: "companies/c1", Subject: "companies/c1/users/u1",
				Time: t0.Add(time.Duration(i) * time.Hour), Resources: map[string]string{feed.ResourceUser: "companies/c1/users/u1"}}
			if err := tx.AppendEvent(e); err != nil {
				return err
			}
			if e.Sequence != uint64(i+1) {
				t.Fatalf("sequence %d, want %d", e.Sequence, i+1)
			}
		}
		return nil
	})
	evs, err := s.EventsAfter(ctx, 1, 10)
	if err != nil || len(evs) != 2 || evs[0].Sequence != 2 || evs[0].Resources[feed.ResourceUser] != "companies/c1/users/u1" {
		t.Fatalf("after 1: %+v %v", evs, err)
	}
	update(t, s, func(tx domain.Tx) error {
		n, err := tx.PruneEvents(t0.Add(90*time.Minute), 10)
		if n != 2 {
			t.Fatalf("pruned %d, want 2", n)
		}
		return err
	})
	if p, err := s.PrunedThrough(ctx); err != nil || p != 2 {
		t.Fatalf("pruned through %d %v", p, err)
	}
}

func testPendingSignUps(t *testing.T, s domain.Store) {
	update(t, s, func(tx domain.Tx) error {
		for i, id := range []string{"p2", "p1", "p3"} {
			p := &domain.PendingSignUp{ID: id, Draft: domain.CompanyDraft{LegalName: id}, ExpireTime: t0.Add(time.Duration(-i) * time.Minute)}
			if id == "p3" {
				p.ExpireTime = t0.Add(time.Hour)
			}
			if err := tx.PutPendingSignUp(p); err != nil {
				return err
			}
		}
		return tx.DeletePendingSignUp("p2")
	})
	view(t, s, func(tx domain.Tx) error {
		due, err := tx.ExpiredPendingSignUps(t0, 10)
		if err != nil || len(due) != 1 || due[0].ID != "p1" || due[0].Draft.LegalName != "p1" {
			t.Fatalf("expired: %+v %v", due, err)
		}
		if _, err := tx.PendingSignUp("p2"); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("deleted: %v", err)
		}
		return nil
	})
}

func testFlags(t *testing.T, s domain.Store) {
	update(t, s, func(tx domain.Tx) error { return tx.SetFlag("done") })
	view(t, s, func(tx domain.Tx) error {
		if on, err := tx.Flag("done"); err != nil || !on {
			t.Fatalf("flag: %v %v", on, err)
		}
		if on, _ := tx.Flag("other"); on {
			t.Fatal("unset flag reads set")
		}
		return nil
	})
}
