package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/names"
)

// Limits and periods of the webhook rules.
const (
	// MaxEndpointsPerCompany bounds the fan-out of one event.
	MaxEndpointsPerCompany = 20
	// RotationOverlap is how long the previous secret still signs.
	RotationOverlap = 24 * time.Hour
	// Retention is how long events and deliveries are kept.
	Retention = 30 * 24 * time.Hour
	// MaxDescriptionRunes bounds an endpoint's description.
	MaxDescriptionRunes = 500

	defaultPageSize      = 50
	maxPageSize          = 500
	defaultEventPageSize = 100
	maxEventPageSize     = 1000
)

// Reasons of the errors the rules return (ErrorInfo.reason).
const (
	ReasonWebhookNotFound  = "WEBHOOK_NOT_FOUND"
	ReasonDeliveryNotFound = "WEBHOOK_DELIVERY_NOT_FOUND"
	ReasonTooManyWebhooks  = "TOO_MANY_WEBHOOKS"
	ReasonWebhookDisabled  = "WEBHOOK_DISABLED"
	ReasonDeliveryBusy     = "WEBHOOK_DELIVERY_IN_PROGRESS"
)

// Sealer keeps secrets at rest (runtime/secrets.Box).
type Sealer interface {
	Seal(plaintext, aad []byte) []byte
	Open(sealed, aad []byte) ([]byte, error)
}

// Input is what an Administrator sets on an endpoint.
type Input struct {
	URL         string
	EventTypes  []string
	Enabled     *bool // nil: unchanged on update, true on create
	Description string
}

// The fields an update mask may name (proto names); output-only fields are ignored.
var (
	updatableFields = []string{"url", "event_types", "enabled", "description"}
	outputOnly      = []string{"name", "signing_secret", "previous_secret_expire_time", "failing_since", "disabled_reason", "create_time", "update_time"}
)

// ServiceOptions are the optional parts of a Service.
type ServiceOptions struct {
	// Resolver resolves endpoint hosts at registration (default: the system's).
	Resolver Resolver
	// AllowPrivate lets endpoints resolve to private addresses (VIGIL_WEBHOOK_ALLOW_PRIVATE).
	AllowPrivate bool
	Now          func() time.Time
	// Poke is called with an endpoint's ID when its deliveries may flow
	// again now (enabled, URL changed, test, redelivery).
	Poke func(endpoint string)
}

// Service holds the rules of the webhook and change-feed routes.
type Service struct {
	store Store
	box   Sealer
	log   *zap.Logger
	opts  ServiceOptions
}

// NewService builds the service.
func NewService(store Store, box Sealer, log *zap.Logger, opts ServiceOptions) *Service {
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Poke == nil {
		opts.Poke = func(string) {}
	}
	return &Service{store: store, box: box, log: log, opts: opts}
}

// authorize is the one rule of who may: the company's Administrators
// (authz ManageWebhooks), for endpoints, deliveries and the feed alike.
func authorize(ctx context.Context, sub authz.Subject, company string) error {
	return authz.Authorize(ctx, sub, company, authz.ManageWebhooks, "", nil)
}

func checkCompany(company, field string) error {
	_, err := names.Company.Parse(field, company)
	return err
}

// endpointOf authorizes the caller on the company a webhook name names,
// then loads the endpoint, which must belong to that company.
func (s *Service) endpointOf(ctx context.Context, sub authz.Subject, name, field string) (Endpoint, error) {
	c, id, err := names.Webhook.Parse(field, name)
	if err != nil {
		return Endpoint{}, err
	}
	company := names.Company.Format(c)
	if err := authorize(ctx, sub, company); err != nil {
		return Endpoint{}, err
	}
	if !names.IsNewID(id) {
		// A well-formed company with an id notify never made: authorized
		// first, so that an outsider learns nothing, then not found.
		return Endpoint{}, errs.NotFound(ReasonWebhookNotFound, "webhook not found")
	}
	e, err := s.store.Endpoint(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && e.Company != company {
		return Endpoint{}, errs.NotFound(ReasonWebhookNotFound, "webhook not found")
	}
	if err != nil {
		return Endpoint{}, errs.Internal(fmt.Errorf("read webhook: %w", err))
	}
	return e, nil
}

func (s *Service) checkInput(ctx context.Context, in Input, fields []string) error {
	if slices.Contains(fields, "url") {
		if err := checkURL(ctx, in.URL, "webhook.url", s.opts.Resolver, s.opts.AllowPrivate); err != nil {
			return err
		}
	}
	if slices.Contains(fields, "event_types") {
		if len(in.EventTypes) == 0 {
			return errs.InvalidArgument("webhook.event_types", "at least one event type is required")
		}
		for i, t := range in.EventTypes {
			field := fmt.Sprintf("webhook.event_types[%d]", i)
			if !feed.IsPublic(t) {
				return errs.InvalidArgument(field, "unknown event type %q; one of %v", t, feed.Public)
			}
			if slices.Contains(in.EventTypes[:i], t) {
				return errs.InvalidArgument(field, "%q is listed twice", t)
			}
		}
	}
	if slices.Contains(fields, "description") {
		if utf8.RuneCountInString(in.Description) > MaxDescriptionRunes || !utf8.ValidString(in.Description) ||
			hasControl(in.Description) {
			return errs.InvalidArgument("webhook.description", "at most %d characters, without control characters", MaxDescriptionRunes)
		}
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// secretAAD binds a sealed secret to its endpoint.
func secretAAD(e Endpoint) []byte { return []byte("webhook-signing-secret:" + e.Name()) }

func (s *Service) seal(e Endpoint, secret string) []byte {
	return s.box.Seal([]byte(secret), secretAAD(e))
}

// Create registers an endpoint and returns it with its signing secret,
// shown this once.
func (s *Service) Create(ctx context.Context, sub authz.Subject, company string, in Input) (Endpoint, string, error) {
	if err := checkCompany(company, "parent"); err != nil {
		return Endpoint{}, "", err
	}
	if err := authorize(ctx, sub, company); err != nil {
		return Endpoint{}, "", err
	}
	if err := s.checkInput(ctx, in, updatableFields); err != nil {
		return Endpoint{}, "", err
	}
	now := s.opts.Now().UTC()
	e := Endpoint{
		ID: names.NewIDAt(now), Company: company, URL: in.URL, EventTypes: slices.Clone(in.EventTypes),
		Enabled: in.Enabled == nil || *in.Enabled, Description: in.Description, CreateTime: now, UpdateTime: now,
	}
	secret := newSecret()
	e.Secret = s.seal(e, secret)
	err := s.store.CreateEndpoint(ctx, e, MaxEndpointsPerCompany)
	if errors.Is(err, ErrLimit) {
		return Endpoint{}, "", errs.FailedPrecondition(ReasonTooManyWebhooks, "a company may register at most %d webhooks", MaxEndpointsPerCompany)
	}
	if err != nil {
		return Endpoint{}, "", errs.Internal(fmt.Errorf("create webhook: %w", err))
	}
	s.log.Info("webhook created", zap.String("webhook", e.Name()), zap.String("by", sub.User))
	return e, secret, nil
}

// Get returns one endpoint.
func (s *Service) Get(ctx context.Context, sub authz.Subject, name string) (Endpoint, error) {
	return s.endpointOf(ctx, sub, name, "name")
}

// List lists a company's endpoints, oldest first.
func (s *Service) List(ctx context.Context, sub authz.Subject, company string, size int, token string) ([]Endpoint, string, error) {
	if err := checkCompany(company, "parent"); err != nil {
		return nil, "", err
	}
	if err := authorize(ctx, sub, company); err != nil {
		return nil, "", err
	}
	after, err := decodePageToken(token, "webhooks:"+company)
	if err != nil {
		return nil, "", err
	}
	limit := pageSize(size, defaultPageSize, maxPageSize)
	es, err := s.store.ListEndpoints(ctx, company, after, limit+1)
	if err != nil {
		return nil, "", errs.Internal(fmt.Errorf("list webhooks: %w", err))
	}
	next := ""
	if len(es) > limit {
		es = es[:limit]
		next = encodePageToken(es[limit-1].ID, "webhooks:"+company)
	}
	return es, next, nil
}

// Update changes the fields mask names (proto names).
func (s *Service) Update(ctx context.Context, sub authz.Subject, name string, in Input, mask []string) (Endpoint, error) {
	current, err := s.endpointOf(ctx, sub, name, "webhook.name")
	if err != nil {
		return Endpoint{}, err
	}
	var fields []string
	for _, p := range mask {
		switch {
		case slices.Contains(updatableFields, p):
			fields = append(fields, p)
		case slices.Contains(outputOnly, p):
		default:
			return Endpoint{}, errs.InvalidArgument("update_mask", "%q is not a field of a webhook that can change; use %v", p, updatableFields)
		}
	}
	if len(fields) == 0 {
		return Endpoint{}, errs.InvalidArgument("update_mask", "name the fields to change: %v", updatableFields)
	}
	if slices.Contains(fields, "enabled") && in.Enabled == nil {
		return Endpoint{}, errs.InvalidArgument("webhook.enabled", "required when update_mask names it")
	}
	if err := s.checkInput(ctx, in, fields); err != nil {
		return Endpoint{}, err
	}
	now := s.opts.Now().UTC()
	e, err := s.store.UpdateEndpoint(ctx, current.ID, func(e *Endpoint) error {
		for _, f := range fields {
			switch f {
			case "url":
				e.URL = in.URL
			case "event_types":
				e.EventTypes = slices.Clone(in.EventTypes)
			case "description":
				e.Description = in.Description
			case "enabled":
				if *in.Enabled && !e.Enabled {
					// Enabled again by an Administrator: its past failures are forgiven.
					e.FailingSince, e.DisabledReason, e.DisableTime = time.Time{}, "", time.Time{}
				}
				e.Enabled = *in.Enabled
			}
		}
		e.UpdateTime = now
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return Endpoint{}, errs.NotFound(ReasonWebhookNotFound, "webhook not found")
	}
	if err != nil {
		return Endpoint{}, errs.Internal(fmt.Errorf("update webhook: %w", err))
	}
	s.opts.Poke(e.ID)
	return e, nil
}

// Delete removes an endpoint.
func (s *Service) Delete(ctx context.Context, sub authz.Subject, name string) error {
	e, err := s.endpointOf(ctx, sub, name, "name")
	if err != nil {
		return err
	}
	err = s.store.DeleteEndpoint(ctx, e.ID)
	if errors.Is(err, ErrNotFound) {
		return errs.NotFound(ReasonWebhookNotFound, "webhook not found")
	}
	if err != nil {
		return errs.Internal(fmt.Errorf("delete webhook: %w", err))
	}
	s.log.Info("webhook deleted", zap.String("webhook", e.Name()), zap.String("by", sub.User))
	s.opts.Poke(e.ID)
	return nil
}

// RotateSecret makes a new signing secret, returned this once; the
// previous one still signs for RotationOverlap.
func (s *Service) RotateSecret(ctx context.Context, sub authz.Subject, name string) (Endpoint, string, error) {
	current, err := s.endpointOf(ctx, sub, name, "name")
	if err != nil {
		return Endpoint{}, "", err
	}
	secret := newSecret()
	now := s.opts.Now().UTC()
	e, err := s.store.UpdateEndpoint(ctx, current.ID, func(e *Endpoint) error {
		e.PreviousSecret, e.PreviousSecretExpireTime = e.Secret, now.Add(RotationOverlap)
		e.Secret = s.seal(*e, secret)
		e.UpdateTime = now
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return Endpoint{}, "", errs.NotFound(ReasonWebhookNotFound, "webhook not found")
	}
	if err != nil {
		return Endpoint{}, "", errs.Internal(fmt.Errorf("rotate webhook secret: %w", err))
	}
	s.log.Info("webhook secret rotated", zap.String("webhook", e.Name()), zap.String("by", sub.User))
	return e, secret, nil
}

// Test queues a test event for the endpoint, tried once.
func (s *Service) Test(ctx context.Context, sub authz.Subject, name string) (Delivery, error) {
	e, err := s.endpointOf(ctx, sub, name, "name")
	if err != nil {
		return Delivery{}, err
	}
	now := s.opts.Now().UTC()
	id := names.NewIDAt(now)
	ev := &Event{ID: "test-" + id, Source: "notify", Type: TypeTest, Company: e.Company, Subject: e.Name(),
		Time: now, Resources: map[string]string{"webhook": e.Name()}, StoreTime: now}
	d := Delivery{ID: id, Endpoint: e.ID, Company: e.Company, EventID: ev.ID, EventType: ev.Type, Test: ev,
		State: StatePending, NextAttempt: now, WindowStart: now, CreateTime: now}
	if err := s.store.CreateDelivery(ctx, d); err != nil {
		return Delivery{}, errs.Internal(fmt.Errorf("queue test delivery: %w", err))
	}
	s.opts.Poke(e.ID)
	return d, nil
}

// ListDeliveries lists an endpoint's deliveries, newest first; state ""
// lists every state.
func (s *Service) ListDeliveries(ctx context.Context, sub authz.Subject, parent string, state State, size int, token string) ([]Delivery, string, error) {
	e, err := s.endpointOf(ctx, sub, parent, "parent")
	if err != nil {
		return nil, "", err
	}
	q := "deliveries:" + e.ID + ":" + string(state)
	before, err := decodePageToken(token, q)
	if err != nil {
		return nil, "", err
	}
	limit := pageSize(size, defaultPageSize, maxPageSize)
	ds, err := s.store.ListDeliveries(ctx, e.ID, state, before, limit+1)
	if err != nil {
		return nil, "", errs.Internal(fmt.Errorf("list deliveries: %w", err))
	}
	next := ""
	if len(ds) > limit {
		ds = ds[:limit]
		next = encodePageToken(ds[limit-1].ID, q)
	}
	return ds, next, nil
}

// Redeliver sends a delivery again now, with a fresh retry period.
func (s *Service) Redeliver(ctx context.Context, sub authz.Subject, name string) (Delivery, error) {
	company, webhook, delivery, ok := names.WebhookDelivery.Match(name)
	if !ok || !names.IsNewID(webhook) || !names.IsNewID(delivery) {
		return Delivery{}, errs.InvalidArgument("name", "must be %s", names.WebhookDelivery)
	}
	e, err := s.endpointOf(ctx, sub, names.Webhook.Format(company, webhook), "name")
	if err != nil {
		return Delivery{}, err
	}
	d, err := s.store.Delivery(ctx, delivery)
	if errors.Is(err, ErrNotFound) || err == nil && d.Endpoint != e.ID {
		return Delivery{}, errs.NotFound(ReasonDeliveryNotFound, "delivery not found")
	}
	if err != nil {
		return Delivery{}, errs.Internal(fmt.Errorf("read delivery: %w", err))
	}
	if !e.Enabled && d.Test == nil {
		return Delivery{}, errs.FailedPrecondition(ReasonWebhookDisabled, "the webhook is disabled: enable it first")
	}
	d, err = s.store.Redeliver(ctx, d.ID, s.opts.Now().UTC())
	switch {
	case errors.Is(err, ErrClaimed):
		return Delivery{}, errs.Aborted(ReasonDeliveryBusy, "the delivery is being attempted right now; retry in a moment")
	case errors.Is(err, ErrNotFound):
		return Delivery{}, errs.NotFound(ReasonDeliveryNotFound, "delivery not found")
	case err != nil:
		return Delivery{}, errs.Internal(fmt.Errorf("redeliver: %w", err))
	}
	s.log.Info("webhook delivery redelivered", zap.String("delivery", d.Name()), zap.String("by", sub.User))
	s.opts.Poke(e.ID)
	return d, nil
}

// ListEvents is the change feed: the company's events after the cursor,
// in order, and the cursor to continue from.
func (s *Service) ListEvents(ctx context.Context, sub authz.Subject, company, after string, size int) ([]Event, string, error) {
	if err := checkCompany(company, "parent"); err != nil {
		return nil, "", err
	}
	if err := authorize(ctx, sub, company); err != nil {
		return nil, "", err
	}
	seq, err := DecodeCursor(after)
	if err != nil {
		return nil, "", err
	}
	evs, err := s.store.ListEvents(ctx, company, seq, pageSize(size, defaultEventPageSize, maxEventPageSize))
	if err != nil {
		return nil, "", errs.Internal(fmt.Errorf("list events: %w", err))
	}
	if len(evs) > 0 {
		seq = evs[len(evs)-1].Seq
	}
	return evs, EncodeCursor(seq), nil
}

func pageSize(n, def, max int) int {
	switch {
	case n <= 0:
		return def
	case n > max:
		return max
	}
	return n
}
