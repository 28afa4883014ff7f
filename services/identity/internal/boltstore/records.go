package boltstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/proto"

	storagev1 "github.com/vigil/vigil/gen/vigil/identity/storage/v1"
	"github.com/vigil/vigil/services/identity/internal/domain"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
)

// Records are stored as the messages of vigil.identity.storage.v1
// (proto/vigil/identity/storage/v1/records.proto): decoding one costs a
// small fraction of the JSON it replaces (which was a quarter of an
// authenticated read's CPU, issue 14). Files written before hold JSON
// values: Open rewrites them (migrateRecords), and every decoder still
// reads a JSON value, told apart by its first byte — a JSON record is an
// object, '{', which no record message starts with (0x7b would be field 15
// as a group, a wire type proto3 never writes).

// codec encodes one kind of domain record as its message.
type codec[T any] struct {
	name string
	enc  func(*T) (proto.Message, error)
	dec  func([]byte) (*T, error)
}

func (c codec[T]) encode(v *T) ([]byte, error) {
	m, err := c.enc(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", c.name, err)
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", c.name, err)
	}
	return raw, nil
}

// decode reads a value as bbolt returned it (valid only in its
// transaction): what it returns shares no memory with it.
func (c codec[T]) decode(v []byte) (*T, error) {
	if isJSON(v) {
		out := new(T)
		if err := json.Unmarshal(v, out); err != nil {
			return nil, err
		}
		return out, nil
	}
	return c.dec(v)
}

// isJSON tells a value written by the JSON versions of this store.
func isJSON(v []byte) bool { return len(v) > 0 && v[0] == '{' }

// decodeAs unmarshals a record message; proto.Unmarshal copies what it keeps.
func decodeAs[M proto.Message](v []byte, m M) (M, error) {
	return m, proto.Unmarshal(v, m)
}

// ---- times: Unix nanoseconds, 0 for the zero time

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

var errTimeRange = errors.New("a time outside the years 1678…2262 cannot be stored")

// timeEnc collects the first time out of range while a record is encoded.
type timeEnc struct{ err error }

func (e *timeEnc) at(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if t.Before(minTime) || t.After(maxTime) {
		e.err = errTimeRange
		return 0
	}
	return t.UnixNano()
}

func at(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// ---- profile

func profileRecord(p *domain.Profile) *storagev1.ProfileRecord {
	if *p == (domain.Profile{}) {
		return nil
	}
	return &storagev1.ProfileRecord{GivenName: p.GivenName, FamilyName: p.FamilyName, Function: p.Function, Phone: p.Phone,
		Mobile: p.Mobile, Language: p.Language}
}

func profileOf(r *storagev1.ProfileRecord) domain.Profile {
	return domain.Profile{GivenName: r.GetGivenName(), FamilyName: r.GetFamilyName(), Function: r.GetFunction(), Phone: r.GetPhone(),
		Mobile: r.GetMobile(), Language: r.GetLanguage()}
}

// ---- the codecs, one per kind of record

var loginCodec = codec[domain.Login]{
	name: "login",
	enc: func(l *domain.Login) (proto.Message, error) {
		var e timeEnc
		r := &storagev1.LoginRecord{Id: l.ID, Email: l.Email, Profile: profileRecord(&l.Profile), PasswordHash: l.PasswordHash,
			TotpSealed: l.TOTPSealed, TotpPendingSealed: l.TOTPPendingSealed, TotpLastStep: l.TOTPLastStep,
			TotpSecret: l.TOTPSecret, TotpPendingSecret: l.TOTPPendingSecret,
			EmailUndeliverable: l.EmailUndeliverable, EmailUndeliverableTime: e.at(l.EmailUndeliverableTime),
			EmailProvenTime: e.at(l.EmailProvenTime), LastCompany: l.LastCompany,
			CreateTime: e.at(l.CreateTime), UpdateTime: e.at(l.UpdateTime)}
		return r, e.err
	},
	dec: func(v []byte) (*domain.Login, error) {
		r, err := decodeAs(v, &storagev1.LoginRecord{})
		if err != nil {
			return nil, err
		}
		return &domain.Login{ID: r.Id, Email: r.Email, Profile: profileOf(r.Profile), PasswordHash: r.PasswordHash,
			TOTPSealed: r.TotpSealed, TOTPPendingSealed: r.TotpPendingSealed, TOTPLastStep: r.TotpLastStep,
			TOTPSecret: r.TotpSecret, TOTPPendingSecret: r.TotpPendingSecret,
			EmailUndeliverable: r.EmailUndeliverable, EmailUndeliverableTime: at(r.EmailUndeliverableTime),
			EmailProvenTime: at(r.EmailProvenTime), LastCompany: r.LastCompany,
			CreateTime: at(r.CreateTime), UpdateTime: at(r.UpdateTime)}, nil
	},
}

var membershipCodec = codec[domain.Membership]{
	name: "membership",
	enc: func(m *domain.Membership) (proto.Message, error) {
		var e timeEnc
		r := &storagev1.MembershipRecord{Company: m.Company, User: m.User, Role: int32(m.Role), State: int32(m.State),
			Profile: profileRecord(&m.Profile), ActiveSince: e.at(m.ActiveSince), InvitedBy: m.InvitedBy,
			CreateTime: e.at(m.CreateTime), UpdateTime: e.at(m.UpdateTime)}
		return r, e.err
	},
	dec: func(v []byte) (*domain.Membership, error) {
		r, err := decodeAs(v, &storagev1.MembershipRecord{})
		if err != nil {
			return nil, err
		}
		return &domain.Membership{Company: r.Company, User: r.User, Role: authz.Role(r.Role), State: domain.State(r.State),
			Profile: profileOf(r.Profile), ActiveSince: at(r.ActiveSince), InvitedBy: r.InvitedBy,
			CreateTime: at(r.CreateTime), UpdateTime: at(r.UpdateTime)}, nil
	},
}

var companyCodec = codec[domain.Company]{
	name: "company",
	enc: func(c *domain.Company) (proto.Message, error) {
		var e timeEnc
		r := &storagev1.CompanyRecord{Id: c.ID, Kind: int32(c.Kind), DisplayName: c.DisplayName, RequireTwoFactor: c.RequireTwoFactor,
			Language: c.Language, UpdateTime: e.at(c.UpdateTime)}
		return r, e.err
	},
	dec: func(v []byte) (*domain.Company, error) {
		r, err := decodeAs(v, &storagev1.CompanyRecord{})
		if err != nil {
			return nil, err
		}
		return &domain.Company{ID: r.Id, Kind: authz.CompanyKind(r.Kind), DisplayName: r.DisplayName, RequireTwoFactor: r.RequireTwoFactor,
			Language: r.Language, UpdateTime: at(r.UpdateTime)}, nil
	},
}

// digest reads a stored SHA-256.
func digest(field string, b []byte) ([32]byte, error) {
	var d [32]byte
	if len(b) != len(d) {
		return d, fmt.Errorf("%s: %d bytes, want 32", field, len(b))
	}
	copy(d[:], b)
	return d, nil
}

var sessionCodec = codec[domain.Session]{
	name: "session",
	enc: func(s *domain.Session) (proto.Message, error) {
		var e timeEnc
		r := &storagev1.SessionRecord{Id: s.ID, User: s.User, Company: s.Company, RefreshHash: s.RefreshHash[:],
			CreateTime: e.at(s.CreateTime), ExpireTime: e.at(s.ExpireTime), MaxTime: e.at(s.MaxTime), SecondFactor: s.SecondFactor}
		for i := range s.Spent {
			r.Spent = append(r.Spent, s.Spent[i][:])
		}
		return r, e.err
	},
	dec: func(v []byte) (*domain.Session, error) {
		r, err := decodeAs(v, &storagev1.SessionRecord{})
		if err != nil {
			return nil, err
		}
		s := &domain.Session{ID: r.Id, User: r.User, Company: r.Company,
			CreateTime: at(r.CreateTime), ExpireTime: at(r.ExpireTime), MaxTime: at(r.MaxTime), SecondFactor: r.SecondFactor}
		if s.RefreshHash, err = digest("refresh_hash", r.RefreshHash); err != nil {
			return nil, err
		}
		for _, b := range r.Spent {
			d, err := digest("spent", b)
			if err != nil {
				return nil, err
			}
			s.Spent = append(s.Spent, d)
		}
		return s, nil
	},
}

var linkTokenCodec = codec[domain.LinkToken]{
	name: "link token",
	enc: func(lt *domain.LinkToken) (proto.Message, error) {
		var e timeEnc
		r := &storagev1.LinkTokenRecord{Hash: lt.Hash[:], Kind: int32(lt.Kind), User: lt.User, Company: lt.Company,
			CreateTime: e.at(lt.CreateTime), ExpireTime: e.at(lt.ExpireTime)}
		return r, e.err
	},
	dec: func(v []byte) (*domain.LinkToken, error) {
		r, err := decodeAs(v, &storagev1.LinkTokenRecord{})
		if err != nil {
			return nil, err
		}
		lt := &domain.LinkToken{Kind: domain.LinkKind(r.Kind), User: r.User, Company: r.Company,
			CreateTime: at(r.CreateTime), ExpireTime: at(r.ExpireTime)}
		if lt.Hash, err = digest("hash", r.Hash); err != nil {
			return nil, err
		}
		return lt, nil
	},
}

var grantCodec = codec[domain.Grant]{
	name: "grant",
	enc: func(g *domain.Grant) (proto.Message, error) {
		var e timeEnc
		r := &storagev1.GrantRecord{Id: g.ID, Company: g.Company, User: g.User, Scope: int32(g.Scope), Level: int32(g.Level),
			Project: g.Project, Creator: g.Creator, CreateTime: e.at(g.CreateTime)}
		return r, e.err
	},
	dec: func(v []byte) (*domain.Grant, error) {
		r, err := decodeAs(v, &storagev1.GrantRecord{})
		if err != nil {
			return nil, err
		}
		return &domain.Grant{ID: r.Id, Company: r.Company, User: r.User, Scope: authz.GrantScope(r.Scope), Level: authz.GrantLevel(r.Level),
			Project: r.Project, Creator: r.Creator, CreateTime: at(r.CreateTime)}, nil
	},
}

var auditCodec = codec[domain.AuditEvent]{
	name: "audit event",
	enc: func(a *domain.AuditEvent) (proto.Message, error) {
		var e timeEnc
		r := &storagev1.AuditEventRecord{Seq: a.Seq, Company: a.Company, Actor: a.Actor, ActorDisplayName: a.ActorDisplayName,
			Action: a.Action, Target: a.Target, Detail: a.Detail, Time: e.at(a.Time), RequestId: a.RequestID}
		return r, e.err
	},
	dec: func(v []byte) (*domain.AuditEvent, error) {
		r, err := decodeAs(v, &storagev1.AuditEventRecord{})
		if err != nil {
			return nil, err
		}
		return &domain.AuditEvent{Seq: r.Seq, Company: r.Company, Actor: r.Actor, ActorDisplayName: r.ActorDisplayName,
			Action: r.Action, Target: r.Target, Detail: r.Detail, Time: at(r.Time), RequestID: r.RequestId}, nil
	},
}

var revocationCodec = codec[domain.RevocationEvent]{
	name: "revocation",
	enc: func(ev *domain.RevocationEvent) (proto.Message, error) {
		var e timeEnc
		r := &storagev1.RevocationEventRecord{Seq: ev.Sequence, User: ev.User, Company: ev.Company, Kind: int32(ev.Kind), Role: int32(ev.Role),
			Session: ev.Session, NotBefore: e.at(ev.NotBefore)}
		return r, e.err
	},
	dec: func(v []byte) (*domain.RevocationEvent, error) {
		r, err := decodeAs(v, &storagev1.RevocationEventRecord{})
		if err != nil {
			return nil, err
		}
		return &domain.RevocationEvent{Sequence: r.Seq, User: r.User, Company: r.Company, Kind: auth.RevocationKind(r.Kind),
			Role: authz.Role(r.Role), Session: r.Session, NotBefore: at(r.NotBefore)}, nil
	},
}

var signingKeyCodec = codec[domain.SigningKey]{
	name: "signing key",
	enc: func(k *domain.SigningKey) (proto.Message, error) {
		var e timeEnc
		r := &storagev1.SigningKeyRecord{Id: k.ID, SealedSeed: k.SealedSeed, Seed: k.Seed, CreateTime: e.at(k.CreateTime),
			RetireTime: e.at(k.RetireTime)}
		return r, e.err
	},
	dec: func(v []byte) (*domain.SigningKey, error) {
		r, err := decodeAs(v, &storagev1.SigningKeyRecord{})
		if err != nil {
			return nil, err
		}
		return &domain.SigningKey{ID: r.Id, SealedSeed: r.SealedSeed, Seed: r.Seed, CreateTime: at(r.CreateTime),
			RetireTime: at(r.RetireTime)}, nil
	},
}

var notificationCodec = codec[domain.Notification]{
	name: "notification",
	enc: func(n *domain.Notification) (proto.Message, error) {
		var e timeEnc
		r := &storagev1.NotificationRecord{Id: n.ID, IdempotencyKey: n.IdempotencyKey, Template: int32(n.Template), Data: n.Data,
			Company: n.Company, CreateTime: e.at(n.CreateTime), Link: int32(n.Link), LinkUser: n.LinkUser, LinkCompany: n.LinkCompany}
		for _, rc := range n.Recipients {
			r.Recipients = append(r.Recipients, &storagev1.RecipientRecord{User: rc.User, Email: rc.Email, DisplayName: rc.DisplayName,
				Language: rc.Language})
		}
		return r, e.err
	},
	dec: func(v []byte) (*domain.Notification, error) {
		r, err := decodeAs(v, &storagev1.NotificationRecord{})
		if err != nil {
			return nil, err
		}
		n := &domain.Notification{ID: r.Id, IdempotencyKey: r.IdempotencyKey, Template: domain.Template(r.Template), Data: r.Data,
			Company: r.Company, CreateTime: at(r.CreateTime), Link: domain.LinkKind(r.Link), LinkUser: r.LinkUser, LinkCompany: r.LinkCompany}
		for _, rc := range r.Recipients {
			n.Recipients = append(n.Recipients, domain.Recipient{User: rc.User, Email: rc.Email, DisplayName: rc.DisplayName,
				Language: rc.Language})
		}
		return n, nil
	},
}

var pendingCodec = codec[domain.PendingSignUp]{
	name: "pending sign-up",
	enc: func(p *domain.PendingSignUp) (proto.Message, error) {
		var e timeEnc
		d := p.Draft
		r := &storagev1.PendingSignUpRecord{Id: p.ID, Draft: &storagev1.CompanyDraftRecord{LegalName: d.LegalName, Kind: int32(d.Kind),
			Country: d.Country, RegistrationNumber: d.RegistrationNumber, Address: d.Address, TimeZone: d.TimeZone, Language: d.Language},
			CreateTime: e.at(p.CreateTime), ExpireTime: e.at(p.ExpireTime), Abandoned: p.Abandoned}
		return r, e.err
	},
	dec: func(v []byte) (*domain.PendingSignUp, error) {
		r, err := decodeAs(v, &storagev1.PendingSignUpRecord{})
		if err != nil {
			return nil, err
		}
		d := r.GetDraft()
		return &domain.PendingSignUp{ID: r.Id, Draft: domain.CompanyDraft{LegalName: d.GetLegalName(), Kind: authz.CompanyKind(d.GetKind()),
			Country: d.GetCountry(), RegistrationNumber: d.GetRegistrationNumber(), Address: d.GetAddress(), TimeZone: d.GetTimeZone(),
			Language: d.GetLanguage()}, CreateTime: at(r.CreateTime), ExpireTime: at(r.ExpireTime), Abandoned: r.Abandoned}, nil
	},
}
