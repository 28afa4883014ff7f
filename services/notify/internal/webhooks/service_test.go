package webhooks_test

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/notify/internal/webhooks"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/feed"
)

// TestWhoMayManageWebhooks: only the company's Administrators may manage
// its webhooks and read its feed (authz ManageWebhooks, R-NOTIF-6); every
// other role, in an operator or a supplier, and the Administrator of an
// unrelated company are refused, and a refused call changes nothing.
func TestWhoMayManageWebhooks(t *testing.T) {
	r := newReceiver(t)
	h := newHarness(t, webhooks.DispatcherConfig{}, r)
	e, _ := h.create(r.url("/hook"), feed.TypeDocumentUploaded)
	h.emit("vault", feed.TypeDocumentUploaded, "companies/a", nil)
	waitFor(t, "the delivery", func() bool { return len(deliveriesOf(t, h, e, webhooks.StateDelivered)) == 1 })
	ds, _, _ := h.svc.ListDeliveries(ctx, adminA, e.Name(), "", 10, "")
	dname := ds[0].Name()
	before, _ := h.store.Endpoint(ctx, e.ID)
	on := false
	routes := map[string]func(authz.Subject) error{
		"list": func(s authz.Subject) error { _, _, err := h.svc.List(ctx, s, "companies/a", 10, ""); return err },
		"create": func(s authz.Subject) error {
			_, _, err := h.svc.Create(ctx, s, "companies/a", webhooks.Input{URL: r.url("/x"), EventTypes: []string{feed.TypeSupplierLinked}})
			return err
		},
		"get": func(s authz.Subject) error { _, err := h.svc.Get(ctx, s, e.Name()); return err },
		"update": func(s authz.Subject) error {
			_, err := h.svc.Update(ctx, s, e.Name(), webhooks.Input{Enabled: &on}, []string{"enabled"})
			return err
		},
		"delete": func(s authz.Subject) error { return h.svc.Delete(ctx, s, e.Name()) },
		"rotate": func(s authz.Subject) error { _, _, err := h.svc.RotateSecret(ctx, s, e.Name()); return err },
		"test":   func(s authz.Subject) error { _, err := h.svc.Test(ctx, s, e.Name()); return err },
		"list deliveries": func(s authz.Subject) error {
			_, _, err := h.svc.ListDeliveries(ctx, s, e.Name(), "", 10, "")
			return err
		},
		"redeliver": func(s authz.Subject) error { _, err := h.svc.Redeliver(ctx, s, dname); return err },
		"events":    func(s authz.Subject) error { _, _, err := h.svc.ListEvents(ctx, s, "companies/a", "", 10); return err },
	}
	var refused []authz.Subject
	for _, kind := range authz.Kinds {
		for _, role := range []authz.Role{authz.RoleRestricted, authz.RoleStandard, authz.RolePower} {
			s := member("companies/a", role)
			s.Kind = kind
			refused = append(refused, s)
		}
	}
	refused = append(refused, adminB, authz.Subject{})
	for name, call := range routes {
		for _, s := range refused {
			err := call(s)
			if !errors.Is(err, errs.ErrPermissionDenied) && !errors.Is(err, errs.ErrUnauthenticated) {
				t.Errorf("%s by %s %s of %s: %v, want refused", name, s.Kind, s.Role, s.Company, err)
			}
		}
	}
	// Nothing changed: one endpoint, same secret and state, one delivery.
	list, _, err := h.svc.List(ctx, adminA, "companies/a", 10, "")
	if err != nil || len(list) != 1 {
		t.Fatalf("after refused calls: %+v %v", list, err)
	}
	after, _ := h.store.Endpoint(ctx, e.ID)
	if !after.Enabled || !bytes.Equal(after.Secret, before.Secret) || len(after.PreviousSecret) != 0 || !after.UpdateTime.Equal(before.UpdateTime) {
		t.Fatalf("a refused call changed the endpoint: %+v", after)
	}
	if ds, _, _ := h.svc.ListDeliveries(ctx, adminA, e.Name(), "", 10, ""); len(ds) != 1 || ds[0].State != webhooks.StateDelivered {
		t.Fatalf("a refused call changed the deliveries: %+v", ds)
	}
	if len(r.deliveries()) != 1 {
		t.Fatalf("a refused test or redelivery reached the endpoint: %d", len(r.deliveries()))
	}
	// The Administrators of a supplier may too.
	supplierAdmin := member("companies/s", authz.RoleAdministrator)
	supplierAdmin.Kind = authz.KindSupplier
	if _, _, err := h.svc.List(ctx, supplierAdmin, "companies/s", 10, ""); err != nil {
		t.Fatalf("a supplier's Administrator: %v", err)
	}
	// Another company's webhook named under one's own company is not found.
	if _, err := h.svc.Get(ctx, adminB, strings.Replace(e.Name(), "companies/a", "companies/b", 1)); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("b reads a's webhook under its own name: %v", err)
	}
}

func fieldOf(err error) string {
	var de *errs.Error
	if errors.As(err, &de) && de.Kind == errs.KindInvalidArgument {
		return de.Field
	}
	return ""
}

// TestBadInputNamesTheField: every bad input is refused with the field named
// (issue 13: malformed or http URLs, forbidden addresses, unknown types).
func TestBadInputNamesTheField(t *testing.T) {
	r := newReceiver(t)
	h := newHarness(t, webhooks.DispatcherConfig{}, r)
	strict := webhooks.NewService(h.store, h.box, zap.NewNop(), webhooks.ServiceOptions{})
	good := webhooks.Input{URL: r.url("/hook"), EventTypes: []string{feed.TypeDocumentUploaded}}
	with := func(f func(*webhooks.Input)) webhooks.Input {
		in := good
		in.EventTypes = slices.Clone(good.EventTypes)
		f(&in)
		return in
	}
	cases := []struct {
		name  string
		svc   *webhooks.Service
		in    webhooks.Input
		field string
	}{
		{"no url", h.svc, with(func(in *webhooks.Input) { in.URL = "" }), "webhook.url"},
		{"malformed url", h.svc, with(func(in *webhooks.Input) { in.URL = "https://exa mple/" }), "webhook.url"},
		{"http url", h.svc, with(func(in *webhooks.Input) { in.URL = strings.Replace(good.URL, "https", "http", 1) }), "webhook.url"},
		{"loopback without the operator's leave", strict, good, "webhook.url"},
		{"metadata address", strict, with(func(in *webhooks.Input) { in.URL = "https://169.254.169.254/latest" }), "webhook.url"},
		{"no event type", h.svc, with(func(in *webhooks.Input) { in.EventTypes = nil }), "webhook.event_types"},
		{"unknown event type", h.svc, with(func(in *webhooks.Input) { in.EventTypes = append(in.EventTypes, "document.stolen") }), "webhook.event_types[1]"},
		{"internal event type", h.svc, with(func(in *webhooks.Input) { in.EventTypes = []string{feed.TypeProjectChanged} }), "webhook.event_types[0]"},
		{"repeated event type", h.svc, with(func(in *webhooks.Input) { in.EventTypes = append(in.EventTypes, feed.TypeDocumentUploaded) }), "webhook.event_types[1]"},
		{"control in description", h.svc, with(func(in *webhooks.Input) { in.Description = "a\nb" }), "webhook.description"},
		{"long description", h.svc, with(func(in *webhooks.Input) { in.Description = strings.Repeat("é", 501) }), "webhook.description"},
	}
	for _, c := range cases {
		if _, _, err := c.svc.Create(ctx, adminA, "companies/a", c.in); fieldOf(err) != c.field {
			t.Errorf("%s: %v, want INVALID_ARGUMENT on %s", c.name, err, c.field)
		}
	}
	if _, _, err := h.svc.Create(ctx, adminA, "company-a", good); fieldOf(err) != "parent" {
		t.Errorf("bad parent: %v", err)
	}
	if list, _, _ := h.svc.List(ctx, adminA, "companies/a", 10, ""); len(list) != 0 {
		t.Fatalf("bad input stored an endpoint: %+v", list)
	}
	e, _ := h.create(good.URL, good.EventTypes...)
	for _, c := range []struct {
		name  string
		in    webhooks.Input
		mask  []string
		field string
	}{
		{"empty mask", good, nil, "update_mask"},
		{"unknown path", good, []string{"secret"}, "update_mask"},
		{"output-only paths only", good, []string{"signing_secret", "name"}, "update_mask"},
		{"http url", webhooks.Input{URL: "http://erp.example/"}, []string{"url"}, "webhook.url"},
		{"unknown type", webhooks.Input{EventTypes: []string{"x"}}, []string{"event_types"}, "webhook.event_types[0]"},
		{"enabled unset", webhooks.Input{}, []string{"enabled"}, "webhook.enabled"},
	} {
		if _, err := h.svc.Update(ctx, adminA, e.Name(), c.in, c.mask); fieldOf(err) != c.field {
			t.Errorf("update, %s: %v, want INVALID_ARGUMENT on %s", c.name, err, c.field)
		}
	}
	for _, name := range []string{"companies/a/hooks/x", "webhooks/x", ""} {
		if _, err := h.svc.Get(ctx, adminA, name); fieldOf(err) != "name" {
			t.Errorf("get %q: %v", name, err)
		}
	}
	if _, err := h.svc.Get(ctx, adminA, "companies/a/webhooks/nope"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("unknown webhook: %v", err)
	}
	if _, err := h.svc.Redeliver(ctx, adminA, e.Name()+"/deliveries/x"); fieldOf(err) != "name" {
		t.Errorf("bad delivery name: %v", err)
	}
	if _, _, err := h.svc.List(ctx, adminA, "companies/a", 10, "garbage"); fieldOf(err) != "page_token" {
		t.Errorf("bad page token: %v", err)
	}
	if _, _, err := h.svc.ListEvents(ctx, adminA, "companies/a", "garbage", 10); fieldOf(err) != "after" {
		t.Errorf("bad cursor: %v", err)
	}
}

// TestSecretShownOnceNeverStoredInClear: the signing secret is in the
// answer of create and rotate only, and never in the data file in clear.
func TestSecretShownOnceNeverStoredInClear(t *testing.T) {
	r := newReceiver(t)
	h := newHarness(t, webhooks.DispatcherConfig{}, r)
	e, secret := h.create(r.url("/hook"), feed.TypeDocumentUploaded)
	_, rotated, err := h.svc.RotateSecret(ctx, adminA, e.Name())
	if err != nil {
		t.Fatal(err)
	}
	h.stop()
	raw, err := os.ReadFile(h.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{secret, rotated, strings.TrimPrefix(secret, "whsec_"), strings.TrimPrefix(rotated, "whsec_")} {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatal("a signing secret is in the data file in clear")
		}
	}
	h.start(webhooks.DispatcherConfig{})
}

// TestEndpointLimit: a company may register a bounded number of endpoints.
func TestEndpointLimit(t *testing.T) {
	r := newReceiver(t)
	h := newHarness(t, webhooks.DispatcherConfig{}, r)
	for range webhooks.MaxEndpointsPerCompany {
		h.create(r.url("/hook"), feed.TypeDocumentUploaded)
	}
	_, _, err := h.svc.Create(ctx, adminA, "companies/a", webhooks.Input{URL: r.url("/hook"), EventTypes: []string{feed.TypeDocumentUploaded}})
	if !errors.Is(err, errs.ErrFailedPrecondition) {
		t.Fatalf("one too many: %v", err)
	}
	page, next, err := h.svc.List(ctx, adminA, "companies/a", 15, "")
	if err != nil || len(page) != 15 || next == "" {
		t.Fatalf("first page: %d %q %v", len(page), next, err)
	}
	page, next, err = h.svc.List(ctx, adminA, "companies/a", 15, next)
	if err != nil || len(page) != 5 || next != "" {
		t.Fatalf("second page: %d %q %v", len(page), next, err)
	}
}
