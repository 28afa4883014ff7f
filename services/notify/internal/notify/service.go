package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"reflect"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
)

// ReasonSecretDropped refuses to retry a dead letter whose single-use link
// was dropped.
const ReasonSecretDropped = "SECRET_DROPPED"

// Limits of an accepted notification.
const (
	MaxRecipients        = 500
	MaxDataBytes         = 64 << 10 // the data, JSON-encoded
	MaxIdempotencyKeyLen = 200
	MaxNameLen           = 200
	MaxEmailLen          = 254 // RFC 5321 path limit
	DefaultPageSize      = 50
	MaxPageSize          = 500
)

// Rendered is one message rendered for one recipient.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
}

// Renderer turns a template and its data into a message. Check validates the
// data of a template without rendering: an unknown template is an
// errs.InvalidArgument on field "template", bad data one on "data.<key>".
// SecretFields names the fields of a template that are secrets (single-use
// links): they reach the recipient only by e-mail. RenderInbox renders the
// in-app entry, without the secret fields, and so without any secret.
type Renderer interface {
	Check(t Template, data map[string]any) error
	Render(t Template, lang string, r Recipient, data map[string]any) (Rendered, error)
	RenderInbox(t Template, lang string, r Recipient, data map[string]any) (Rendered, error)
	SecretFields(t Template) []string
	// RenderShared is Render for data shared by the recipients of key (the
	// notification that holds the data): rendered once, personalised each
	// time; the same output as Render.
	RenderShared(key string, t Template, lang string, r Recipient, data map[string]any) (Rendered, error)
}

// Sealer encrypts secrets at rest (runtime/secrets.Box): Seal binds the
// value to aad, Open fails for another aad, key or a tampered value.
type Sealer interface {
	Seal(plaintext, aad []byte) []byte
	Open(sealed, aad []byte) ([]byte, error)
}

// sealAAD binds a notification's sealed secrets to the notification.
func sealAAD(notificationID string) []byte {
	return []byte("vigil/notify/notification/" + notificationID)
}

// Caller is who calls the inbox and dead-letter routes, as the handler found
// it in the authenticated principal; the zero Caller is unauthenticated.
type Caller = authz.Subject

// EnqueueRequest is a notification to accept.
type EnqueueRequest struct {
	IdempotencyKey string
	Template       Template
	Recipients     []Recipient
	Data           map[string]any
	Company        string
}

// InboxItem is an inbox entry with its rendered subject and text body.
type InboxItem struct {
	Entry    InboxEntry
	Template Template
	Company  string
	Subject  string
	Body     string
}

// Service holds the rules of accepting notifications and of the inbox and
// dead-letter routes. Delivery itself is the Dispatcher's.
type Service struct {
	store  Store
	render Renderer
	sealer Sealer
	log    *zap.Logger
	now    func() time.Time
	// accepted is called after a notification is committed (wakes the dispatcher).
	accepted func()
}

// ServiceOptions are the optional parts of a Service.
type ServiceOptions struct {
	Now      func() time.Time
	Accepted func()
}

// NewService builds the service. sealer encrypts the secret fields of what
// it accepts; it is required (notify does not start without a key).
func NewService(store Store, render Renderer, sealer Sealer, log *zap.Logger, opts ServiceOptions) *Service {
	s := &Service{store: store, render: render, sealer: sealer, log: log, now: opts.Now, accepted: opts.Accepted}
	if s.now == nil {
		s.now = time.Now
	}
	if s.accepted == nil {
		s.accepted = func() {}
	}
	return s
}

// Enqueue validates and durably stores a notification (R-NOTIF-5): it
// returns only after the store committed it. A repeated idempotency key
// stores nothing and returns the first notification's ID with duplicate set.
// Invalid input is INVALID_ARGUMENT naming the field; nothing is stored.
func (s *Service) Enqueue(ctx context.Context, req EnqueueRequest) (id string, duplicate bool, err error) {
	b, err := s.prepare(req, s.now().UTC(), nil)
	if err != nil {
		return "", false, err
	}
	id, duplicate, err = s.store.Enqueue(ctx, b.Notification, b.Deliveries, b.Inbox)
	if err != nil {
		return "", false, errs.Internal(fmt.Errorf("enqueue: %w", err))
	}
	if !duplicate {
		s.accepted()
	}
	return id, duplicate, nil
}

// EnqueueResult is the outcome of one request of EnqueueBatch.
type EnqueueResult struct {
	ID         string
	Duplicate  bool
	Recipients int // the deliveries it has (or would have had, for a duplicate)
}

// EnqueueBatch is Enqueue for many notifications (the scheduled jobs): all
// are validated first, then stored in one transaction with marks (see
// Store.EnqueueBatch). An invalid request fails the whole batch, naming it
// by index: the jobs build their requests, so that is a bug to see.
//
// Requests that share one data map (a company's digest, sent to each of
// its members) are checked once per language, and the store keeps their
// data once (Batched.DataGroup).
func (s *Service) EnqueueBatch(ctx context.Context, reqs []EnqueueRequest, marks []string) ([]EnqueueResult, error) {
	now := s.now().UTC()
	items := make([]Batched, len(reqs))
	m := &batchMemo{checked: map[memoKey]bool{}, groups: map[uintptr]int{}}
	for i, req := range reqs {
		b, err := s.prepare(req, now, m)
		if err != nil {
			return nil, fmt.Errorf("request %d (%s): %w", i, req.IdempotencyKey, err)
		}
		items[i] = b
	}
	if len(items) == 0 && len(marks) == 0 {
		return nil, nil
	}
	res, err := s.store.EnqueueBatch(ctx, items, marks)
	if err != nil {
		return nil, errs.Internal(fmt.Errorf("enqueue batch: %w", err))
	}
	out := make([]EnqueueResult, len(res))
	fresh := false
	for i, r := range res {
		out[i] = EnqueueResult{ID: r.ID, Duplicate: r.Duplicate, Recipients: len(items[i].Deliveries)}
		fresh = fresh || !r.Duplicate
	}
	if fresh {
		s.accepted()
	}
	return out, nil
}

// Marked returns which of keys were recorded with EnqueueBatch.
func (s *Service) Marked(ctx context.Context, keys []string) (map[string]bool, error) {
	return s.store.Marked(ctx, keys)
}

// PruneMarks forgets the marks under prefix older than before.
func (s *Service) PruneMarks(ctx context.Context, prefix, before string) (int, error) {
	return s.store.PruneMarks(ctx, prefix, before)
}

// batchMemo remembers, within one EnqueueBatch, the data maps already
// validated and rendered, by the map's identity: a job hands the same map to
// every member of a company.
type batchMemo struct {
	checked map[memoKey]bool // data, template and language known to render
	groups  map[uintptr]int  // data map → its DataGroup
}

type memoKey struct {
	data uintptr
	t    Template
	lang string
}

// dataID is the identity of a data map (0 for none).
func dataID(m map[string]any) uintptr {
	if m == nil {
		return 0
	}
	return reflect.ValueOf(m).Pointer()
}

// prepare validates req and builds what the store keeps: the notification
// with its secret fields sealed (never in Data), its deliveries and inbox
// entries. memo (EnqueueBatch) skips the checks of a data map seen before.
func (s *Service) prepare(req EnqueueRequest, now time.Time, memo *batchMemo) (Batched, error) {
	id := dataID(req.Data)
	seenData := memo != nil && id != 0 && memo.checked[memoKey{data: id}]
	recipients, err := s.validate(req, !seenData)
	if err != nil {
		return Batched{}, err
	}
	if memo != nil && id != 0 {
		memo.checked[memoKey{data: id}] = true
	}
	n := Notification{
		ID:             names.NewIDAt(now),
		IdempotencyKey: req.IdempotencyKey,
		Template:       req.Template,
		Data:           req.Data,
		Company:        req.Company,
		Recipients:     recipients,
		CreateTime:     now,
	}
	// Render once per language now, so that a template that cannot render
	// this data fails the call instead of becoming a dead letter later.
	seen := map[string]bool{}
	for _, r := range recipients {
		if seen[r.Language] {
			continue
		}
		seen[r.Language] = true
		key := memoKey{data: id, t: n.Template, lang: r.Language}
		if memo != nil && id != 0 && memo.checked[key] {
			continue
		}
		if _, err := s.render.Render(n.Template, r.Language, r, n.Data); err != nil {
			var de *errs.Error
			if errors.As(err, &de) {
				return Batched{}, err
			}
			return Batched{}, errs.Internal(fmt.Errorf("render %s/%s: %w", n.Template, r.Language, err))
		}
		if memo != nil && id != 0 {
			memo.checked[key] = true
		}
	}
	if err := s.seal(&n); err != nil {
		return Batched{}, err
	}
	group := 0
	if memo != nil && id != 0 && len(n.Sealed) == 0 {
		if group = memo.groups[id]; group == 0 {
			group = len(memo.groups) + 1
			memo.groups[id] = group
		}
	}
	deliveries := make([]Delivery, len(recipients))
	var inbox []InboxEntry
	for i, r := range recipients {
		did := DeliveryID(n.ID, i)
		deliveries[i] = Delivery{
			ID: did, NotificationID: n.ID, Index: i, Email: r.Email, Template: n.Template,
			IdempotencyKey: n.IdempotencyKey, State: StatePending, NextAttempt: now,
		}
		if r.User != "" {
			inbox = append(inbox, InboxEntry{ID: did, User: r.User, NotificationID: n.ID, Index: i, CreateTime: now})
		}
	}
	return Batched{Notification: n, Deliveries: deliveries, Inbox: inbox, DataGroup: group}, nil
}

// seal moves the template's secret fields out of n.Data into n.Sealed,
// encrypted and bound to n.ID, so that no secret is ever written in clear.
func (s *Service) seal(n *Notification) error {
	names := s.render.SecretFields(n.Template)
	if len(names) == 0 {
		return nil
	}
	secret := map[string]any{}
	public := make(map[string]any, len(n.Data))
	for k, v := range n.Data {
		public[k] = v
	}
	for _, k := range names {
		if v, ok := public[k]; ok {
			secret[k] = v
			delete(public, k)
		}
	}
	if len(secret) == 0 {
		return nil
	}
	if s.sealer == nil {
		return errs.Internal(errors.New("no secret key to seal a notification's link with"))
	}
	raw, err := json.Marshal(secret)
	if err != nil {
		return errs.InvalidArgument("data", "not representable as JSON")
	}
	n.Data, n.Sealed = public, s.sealer.Seal(raw, sealAAD(n.ID))
	clear(raw)
	return nil
}

// openSecrets returns n's data with its sealed secret fields put back, for
// the e-mail. It fails when they were dropped (the notification was final
// before) or do not open with this key.
func openSecrets(sealer Sealer, render Renderer, n Notification) (map[string]any, error) {
	if len(render.SecretFields(n.Template)) == 0 {
		return n.Data, nil
	}
	if len(n.Sealed) == 0 {
		return nil, errSecretDropped
	}
	if sealer == nil {
		return nil, errors.New("no secret key to open the notification's link with")
	}
	raw, err := sealer.Open(n.Sealed, sealAAD(n.ID))
	if err != nil {
		return nil, fmt.Errorf("open the notification's link: %w", err)
	}
	var secret map[string]any
	if err := json.Unmarshal(raw, &secret); err != nil {
		return nil, fmt.Errorf("decode the notification's link: %w", err)
	}
	data := make(map[string]any, len(n.Data)+len(secret))
	for k, v := range n.Data {
		data[k] = v
	}
	for k, v := range secret {
		data[k] = v
	}
	return data, nil
}

// errSecretDropped: the single-use link of a final notification was dropped.
var errSecretDropped = errors.New("the message's single-use link was dropped when its delivery ended; ask for a new one")

var (
	userPattern    = regexp.MustCompile(`^users/[A-Za-z0-9_-]{1,100}$`)
	companyPattern = regexp.MustCompile(`^companies/[A-Za-z0-9_-]{1,100}$`)
)

// validate checks every field of req and returns the recipients normalized:
// language defaulted, duplicates of one address (case-insensitive) dropped,
// the first kept.
func (s *Service) validate(req EnqueueRequest, checkData bool) ([]Recipient, error) {
	if req.IdempotencyKey == "" {
		return nil, errs.InvalidArgument("idempotency_key", "required")
	}
	if len(req.IdempotencyKey) > MaxIdempotencyKeyLen || !printable(req.IdempotencyKey) {
		return nil, errs.InvalidArgument("idempotency_key", "at most %d printable characters", MaxIdempotencyKeyLen)
	}
	if req.Template == "" {
		return nil, errs.InvalidArgument("template", "required")
	}
	if req.Company != "" && !companyPattern.MatchString(req.Company) {
		return nil, errs.InvalidArgument("company", "must be companies/{company}")
	}
	if len(req.Recipients) == 0 {
		return nil, errs.InvalidArgument("recipients", "at least one recipient is required")
	}
	if len(req.Recipients) > MaxRecipients {
		return nil, errs.InvalidArgument("recipients", "at most %d recipients", MaxRecipients)
	}
	out := make([]Recipient, 0, len(req.Recipients))
	seen := map[string]bool{}
	for i, r := range req.Recipients {
		field := fmt.Sprintf("recipients[%d]", i)
		if r.User != "" && !userPattern.MatchString(r.User) {
			return nil, errs.InvalidArgument(field+".user", "must be users/{user}")
		}
		if err := checkEmail(r.Email); err != nil {
			return nil, errs.InvalidArgument(field+".email", "%s", err.Error())
		}
		if utf8.RuneCountInString(r.Name) > MaxNameLen || !printable(r.Name) {
			return nil, errs.InvalidArgument(field+".display_name", "at most %d characters, no line breaks or control characters", MaxNameLen)
		}
		switch r.Language {
		case "":
			r.Language = DefaultLanguage
		case "en", "fr":
		default:
			return nil, errs.InvalidArgument(field+".language", "must be en or fr")
		}
		key := strings.ToLower(r.Email)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, r)
	}
	if !checkData {
		return out, nil
	}
	if req.Data != nil {
		b, err := json.Marshal(req.Data)
		if err != nil {
			return nil, errs.InvalidArgument("data", "not representable as JSON")
		}
		if len(b) > MaxDataBytes {
			return nil, errs.InvalidArgument("data", "too large: %d bytes encoded, at most %d", len(b), MaxDataBytes)
		}
	}
	if err := s.render.Check(req.Template, req.Data); err != nil {
		return nil, err
	}
	return out, nil
}

// checkEmail accepts a bare address (local@domain), nothing else: no display
// name, no comments, no line breaks.
func checkEmail(addr string) error {
	if addr == "" {
		return errors.New("required")
	}
	if len(addr) > MaxEmailLen || !printable(addr) || strings.ContainsAny(addr, " <>,;\"()") {
		return errors.New("not a valid e-mail address")
	}
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Address != addr || a.Name != "" {
		return errors.New("not a valid e-mail address")
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || !strings.Contains(addr[at+1:], ".") && addr[at+1:] != "localhost" {
		return errors.New("not a valid e-mail address")
	}
	return nil
}

// DisplayName makes s a display name the outbox accepts (Recipient.Name):
// control characters (C0 and C1, line breaks included) and line or
// paragraph separators become spaces, and it is cut at MaxNameLen
// characters. Identity accepts names the outbox would refuse, so that
// callers that build recipients from its members (the scheduled jobs) pass
// them through this, or one such name would fail the whole batch.
func DisplayName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > MaxNameLen {
		s = string(r[:MaxNameLen])
	}
	return strings.TrimSpace(s)
}

// printable reports whether s has no control characters (line breaks included).
func printable(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

// requireUser is the inbox rule: only an authenticated user has an inbox.
func requireUser(c Caller) error {
	if c.User == "" {
		return errs.Unauthenticated("UNAUTHENTICATED", "sign in to read notifications")
	}
	return nil
}

func pageSize(n int) int {
	switch {
	case n <= 0:
		return DefaultPageSize
	case n > MaxPageSize:
		return MaxPageSize
	}
	return n
}

// ListInbox lists the caller's inbox, newest first (R-NOTIF-4).
func (s *Service) ListInbox(ctx context.Context, c Caller, size int, token string, unreadOnly bool) ([]InboxItem, string, error) {
	if err := requireUser(c); err != nil {
		return nil, "", err
	}
	q := "inbox"
	if unreadOnly {
		q = "inbox-unread"
	}
	after, err := decodePageToken(token, q)
	if err != nil {
		return nil, "", err
	}
	limit := pageSize(size)
	entries, err := s.store.ListInbox(ctx, c.User, after, limit+1, unreadOnly)
	if err != nil {
		return nil, "", errs.Internal(fmt.Errorf("list inbox: %w", err))
	}
	next := ""
	if len(entries) > limit {
		entries = entries[:limit]
		next = encodePageToken(Cursor{ID: entries[limit-1].ID}, q)
	}
	items := make([]InboxItem, len(entries))
	for i, e := range entries {
		items[i] = s.inboxItem(e)
	}
	return items, next, nil
}

// inboxItem renders an entry for its recipient. A stored notification that
// no longer renders (a template removed by an upgrade) still lists, with the
// template name as its subject, rather than breaking the whole inbox.
func (s *Service) inboxItem(e InboxEntry) InboxItem {
	n := e.Notification
	item := InboxItem{Entry: e, Template: n.Template, Company: n.Company, Subject: string(n.Template)}
	if e.Index < 0 || e.Index >= len(n.Recipients) {
		s.log.Error("inbox entry points past the recipients", zap.String("entry", e.ID))
		return item
	}
	r := n.Recipients[e.Index]
	out, err := s.render.RenderInbox(n.Template, r.Language, r, n.Data)
	if err != nil {
		s.log.Error("render inbox entry", zap.String("entry", e.ID), zap.Error(err))
		return item
	}
	item.Subject, item.Body = out.Subject, out.Text
	return item
}

// MarkRead marks one entry of the caller's inbox read. Another user's entry
// is NOT_FOUND, as if it did not exist.
func (s *Service) MarkRead(ctx context.Context, c Caller, id string) (InboxItem, error) {
	if err := requireUser(c); err != nil {
		return InboxItem{}, err
	}
	if !ValidDeliveryID(id) {
		return InboxItem{}, errs.NotFound("NOTIFICATION_NOT_FOUND", "notification not found")
	}
	e, err := s.store.MarkRead(ctx, c.User, id, s.now().UTC())
	if errors.Is(err, ErrNotFound) {
		return InboxItem{}, errs.NotFound("NOTIFICATION_NOT_FOUND", "notification not found")
	}
	if err != nil {
		return InboxItem{}, errs.Internal(fmt.Errorf("mark read: %w", err))
	}
	return s.inboxItem(e), nil
}

// ListDeadLetters lists failed deliveries, oldest first (R-NOTIF-5).
func (s *Service) ListDeadLetters(ctx context.Context, c Caller, size int, token string) ([]Delivery, string, error) {
	if err := authz.Authorize(ctx, c, "", authz.ManageDeadLetters, "", nil); err != nil {
		return nil, "", err
	}
	after, err := decodePageToken(token, "dead")
	if err != nil {
		return nil, "", err
	}
	limit := pageSize(size)
	dead, err := s.store.ListDeadLetters(ctx, after, limit+1)
	if err != nil {
		return nil, "", errs.Internal(fmt.Errorf("list dead letters: %w", err))
	}
	next := ""
	if len(dead) > limit {
		dead = dead[:limit]
		last := dead[limit-1]
		next = encodePageToken(Cursor{Time: last.DeadTime, ID: last.ID}, "dead")
	}
	return dead, next, nil
}

// RetryDeadLetter puts a dead letter back in the outbox, due now, with a
// fresh set of attempts. It returns the delivery as it now is (pending). A
// message whose single-use link was dropped when it died (an invitation, a
// reset) cannot be sent again: FAILED_PRECONDITION, the person asks anew.
func (s *Service) RetryDeadLetter(ctx context.Context, c Caller, id string) (Delivery, error) {
	if err := authz.Authorize(ctx, c, "", authz.ManageDeadLetters, "", nil); err != nil {
		return Delivery{}, err
	}
	if !ValidDeliveryID(id) {
		return Delivery{}, errs.NotFound("DEAD_LETTER_NOT_FOUND", "dead letter not found")
	}
	dead, err := s.store.Delivery(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && dead.State != StateDead {
		return Delivery{}, errs.NotFound("DEAD_LETTER_NOT_FOUND", "dead letter not found")
	}
	if err != nil {
		return Delivery{}, errs.Internal(fmt.Errorf("retry dead letter: %w", err))
	}
	if len(s.render.SecretFields(dead.Template)) > 0 {
		n, err := s.store.Notification(ctx, dead.NotificationID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Delivery{}, errs.Internal(fmt.Errorf("retry dead letter: %w", err))
		}
		if len(n.Sealed) == 0 {
			return Delivery{}, errs.FailedPrecondition(ReasonSecretDropped, "%s", errSecretDropped.Error())
		}
	}
	d, err := s.store.RetryDeadLetter(ctx, id, s.now().UTC())
	if errors.Is(err, ErrNotFound) {
		return Delivery{}, errs.NotFound("DEAD_LETTER_NOT_FOUND", "dead letter not found")
	}
	if err != nil {
		return Delivery{}, errs.Internal(fmt.Errorf("retry dead letter: %w", err))
	}
	s.log.Info("dead letter retried", zap.String("delivery", id), zap.String("by", c.User))
	s.accepted()
	return d, nil
}

// Suppressions returns which of emails are suppressed (keyed by lower case
// address).
func (s *Service) Suppressions(ctx context.Context, emails []string) (map[string]Suppression, error) {
	keys := make([]string, len(emails))
	for i, e := range emails {
		keys[i] = strings.ToLower(e)
	}
	return s.store.Suppressions(ctx, keys)
}

// LiftSuppression ends the suppression of email when identity no longer
// marks it undeliverable (an Administrator cleared the mark) although it
// was told before reportedBefore.
func (s *Service) LiftSuppression(ctx context.Context, email string, reportedBefore time.Time) error {
	lifted, err := s.store.LiftSuppression(ctx, strings.ToLower(email), reportedBefore)
	if err != nil {
		return err
	}
	if lifted {
		s.log.Info("suppressed address cleared by identity; mailing it again")
	}
	return nil
}
