package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/vigil/vigil/gen/vigil/events/v1"
)

// hookReceiver is an integration's HTTPS endpoint with a certificate
// from a private CA (the operator passes the CA as VIGIL_WEBHOOK_CA_FILE).
type hookReceiver struct {
	srv    *httptest.Server
	caFile string
	mu     sync.Mutex
	got    []hookEvent
}

type hookEvent struct {
	ID, Type, Subject string
	Data              struct {
		Company    string            `json:"company"`
		Resources  map[string]string `json:"resources"`
		Attributes map[string]string `json:"attributes"`
	}
	Signature, IdempotencyKey string
	Body                      []byte
	// Path is the endpoint's path the event was delivered to (the
	// operator's and the supplier's endpoints share the receiver).
	Path string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Vigil e2e webhook CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "erp.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	r := &hookReceiver{caFile: filepath.Join(t.TempDir(), "webhook-ca.pem")}
	if err := os.WriteFile(r.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var ev hookEvent
		_ = json.Unmarshal(body, &ev)
		ev.Signature, ev.IdempotencyKey, ev.Body, ev.Path = req.Header.Get("Vigil-Signature"), req.Header.Get("Idempotency-Key"), body, req.URL.Path
		r.mu.Lock()
		r.got = append(r.got, ev)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	r.srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}}}
	r.srv.StartTLS()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) events() []hookEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// waitFor returns the first event received matching match, within 30 s.
func (r *hookReceiver) waitFor(t *testing.T, what string, match func(hookEvent) bool) hookEvent {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range r.events() {
			if match(e) {
				return e
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the receiver got no %s; it got %d events", what, len(r.events()))
	return hookEvent{}
}

// hookVerifySignature checks Vigil-Signature as the README tells integrators
// to: HMAC-SHA256, keyed by the secret, of "<t>.<body>", one v1 matching.
func hookVerifySignature(header string, body []byte, secret string) bool {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(n, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(mac.Sum(nil))
	return slices.ContainsFunc(sigs, func(s string) bool { return hmac.Equal([]byte(s), []byte(want)) })
}

// TestWebhooksAndChangeFeed walks issue 13 through the gateway: an
// operator's Administrator registers a webhook on an HTTPS endpoint with a
// private CA, tests it, rotates its secret, reads deliveries and the change
// feed; every other role and another company are refused and change
// nothing; bad input names the field. Then a supplier uploads a document
// the operator collects and lets it expire: the endpoint receives
// document.uploaded and compliance.changed, signed, and the feed lists the
// same events (R-NOTIF-6, R-VAULT-3).
func TestWebhooksAndChangeFeed(t *testing.T) {
	rcv := newHookReceiver(t)
	dataDir := t.TempDir()
	s := startSuite(t, dataDir, "VIGIL_WEBHOOK_CA_FILE="+rcv.caFile, "VIGIL_WEBHOOK_ALLOW_PRIVATE=true")
	operator, admin := s.signUp("COMPANY_KIND_OPERATOR", sirets[0], "olga@operator.test")
	supplier, supplierAdmin := s.signUp("COMPANY_KIND_SUPPLIER", sirets[1], "sam@supplier.test")
	others := map[string]account{
		"a Restricted user": s.invite(dataDir, operator, admin, "rita@operator.test", "ROLE_RESTRICTED_USER"),
		"a Standard user":   s.invite(dataDir, operator, admin, "stan@operator.test", "ROLE_STANDARD_USER"),
		"a Power user":      s.invite(dataDir, operator, admin, "pete@operator.test", "ROLE_POWER_USER"),
		"another company":   supplierAdmin,
	}

	types := []string{"document.uploaded", "compliance.changed", "supplier.linked"}
	created := s.expect(s.do("POST", "/v1/"+operator+"/webhooks", map[string]any{"url": rcv.srv.URL + "/vigil", "eventTypes": types, "description": "ERP"}, admin.token), 200, "create a webhook").JSON(t)
	webhook, _ := created["name"].(string)
	secret, _ := created["signingSecret"].(string)
	if !strings.HasPrefix(webhook, operator+"/webhooks/") || !strings.HasPrefix(secret, "whsec_") || created["enabled"] != true {
		t.Fatalf("created webhook %v", created)
	}
	got := s.expect(s.do("GET", "/v1/"+webhook, nil, admin.token), 200, "get the webhook").JSON(t)
	if _, shown := got["signingSecret"]; shown {
		t.Fatal("the signing secret is shown again")
	}

	t.Run("openapi documents the routes", func(t *testing.T) {
		paths, _ := s.expect(s.do("GET", "/openapi.json", nil, ""), 200, "openapi").JSON(t)["paths"].(map[string]any)
		for _, p := range []string{"/v1/companies/{company}/webhooks", "/v1/companies/{company}/webhooks/{webhook}",
			"/v1/companies/{company}/webhooks/{webhook}:rotateSecret", "/v1/companies/{company}/webhooks/{webhook}:test",
			"/v1/companies/{company}/webhooks/{webhook}/deliveries", "/v1/companies/{company}/events"} {
			if !hasPath(paths, p) {
				t.Errorf("openapi.json lacks %s", p)
			}
		}
	})

	t.Run("a test event, signed", func(t *testing.T) {
		d := s.expect(s.do("POST", "/v1/"+webhook+":test", map[string]any{}, admin.token), 200, "test").JSON(t)
		ev := rcv.waitFor(t, "test event", func(e hookEvent) bool { return e.Type == "webhook.test" })
		if !hookVerifySignature(ev.Signature, ev.Body, secret) || ev.IdempotencyKey != ev.ID || ev.ID != d["eventId"] || ev.Subject != webhook {
			t.Fatalf("test event %+v (delivery %v)", ev, d)
		}
		var ds map[string]any
		hookEventually(t, "the delivery recorded", func() bool {
			ds = s.expect(s.do("GET", "/v1/"+webhook+"/deliveries", nil, admin.token), 200, "deliveries").JSON(t)
			list, _ := ds["deliveries"].([]any)
			return len(list) == 1 && list[0].(map[string]any)["state"] == "STATE_DELIVERED"
		})
		first := ds["deliveries"].([]any)[0].(map[string]any)
		if first["lastResponseCode"] != float64(204) || first["attempts"] != float64(1) || first["test"] != true {
			t.Fatalf("delivery %v", first)
		}
	})

	t.Run("rotation signs with both secrets", func(t *testing.T) {
		rot := s.expect(s.do("POST", "/v1/"+webhook+":rotateSecret", map[string]any{}, admin.token), 200, "rotate").JSON(t)
		fresh, _ := rot["signingSecret"].(string)
		if fresh == "" || fresh == secret || rot["previousSecretExpireTime"] == nil {
			t.Fatalf("rotated %v", rot)
		}
		before := len(rcv.events())
		s.expect(s.do("POST", "/v1/"+webhook+":test", map[string]any{}, admin.token), 200, "test after rotation")
		hookEventually(t, "the second test event", func() bool { return len(rcv.events()) > before })
		ev := rcv.events()[before]
		if strings.Count(ev.Signature, "v1=") != 2 || !hookVerifySignature(ev.Signature, ev.Body, secret) || !hookVerifySignature(ev.Signature, ev.Body, fresh) {
			t.Fatalf("signature during the overlap: %q", ev.Signature)
		}
		secret = fresh
	})

	deliveries := s.expect(s.do("GET", "/v1/"+webhook+"/deliveries", nil, admin.token), 200, "deliveries").JSON(t)["deliveries"].([]any)
	delivery := deliveries[0].(map[string]any)["name"].(string)

	t.Run("only the company's Administrators", func(t *testing.T) {
		received := len(rcv.events())
		before := s.expect(s.do("GET", "/v1/"+webhook, nil, admin.token), 200, "read before").JSON(t)
		routes := []struct {
			method, path string
			body         any
		}{
			{"GET", "/v1/" + operator + "/webhooks", nil},
			{"POST", "/v1/" + operator + "/webhooks", map[string]any{"url": rcv.srv.URL + "/x", "eventTypes": []string{"supplier.linked"}}},
			{"GET", "/v1/" + webhook, nil},
			{"PATCH", "/v1/" + webhook, map[string]any{"description": "taken over", "enabled": false}},
			{"POST", "/v1/" + webhook + ":rotateSecret", map[string]any{}},
			{"POST", "/v1/" + webhook + ":test", map[string]any{}},
			{"GET", "/v1/" + webhook + "/deliveries", nil},
			{"POST", "/v1/" + delivery + ":redeliver", map[string]any{}},
			{"GET", "/v1/" + operator + "/events", nil},
			{"DELETE", "/v1/" + webhook, nil},
		}
		for who, acc := range others {
			for _, r := range routes {
				if resp := s.do(r.method, r.path, r.body, acc.token); resp.Status != 403 {
					t.Errorf("%s: %s %s answered %d, want 403: %s", who, r.method, r.path, resp.Status, resp.Body)
				}
			}
		}
		for _, r := range routes[:1] {
			if resp := s.do(r.method, r.path, r.body, ""); resp.Status != 401 {
				t.Errorf("unauthenticated %s %s: %d", r.method, r.path, resp.Status)
			}
		}
		after := s.expect(s.do("GET", "/v1/"+webhook, nil, admin.token), 200, "read after").JSON(t)
		for _, f := range []string{"description", "enabled", "updateTime", "url", "previousSecretExpireTime"} {
			if fmt.Sprint(before[f]) != fmt.Sprint(after[f]) {
				t.Errorf("a refused call changed %s: %v → %v", f, before[f], after[f])
			}
		}
		list := s.expect(s.do("GET", "/v1/"+operator+"/webhooks", nil, admin.token), 200, "list").JSON(t)
		if n := len(list["webhooks"].([]any)); n != 1 {
			t.Errorf("%d webhooks after refused calls, want 1", n)
		}
		time.Sleep(300 * time.Millisecond)
		if n := len(rcv.events()); n != received {
			t.Errorf("refused tests or redeliveries reached the endpoint: %d events, want %d", n, received)
		}
		if own := s.do("GET", "/v1/"+supplier+"/webhooks", nil, supplierAdmin.token); own.Status != 200 {
			t.Errorf("a supplier's Administrator lists its own webhooks: %d %s", own.Status, own.Body)
		}
	})

	t.Run("bad input names the field", func(t *testing.T) {
		for _, c := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"url": "http://127.0.0.1:9/hook", "eventTypes": types}, "url"},
			{map[string]any{"url": "https://exa mple.test/hook", "eventTypes": types}, "url"},
			{map[string]any{"url": "not a url", "eventTypes": types}, "url"},
			{map[string]any{"url": rcv.srv.URL, "eventTypes": []string{"document.stolen"}}, "event_types"},
			{map[string]any{"url": rcv.srv.URL}, "event_types"},
		} {
			r := s.expect(s.do("POST", "/v1/"+operator+"/webhooks", c.body, admin.token), 400, fmt.Sprintf("create %v", c.body)).JSON(t)
			if msg, _ := r["message"].(string); !strings.Contains(msg, c.field) {
				t.Errorf("create %v: message %q does not name %s", c.body, msg, c.field)
			}
		}
		r := s.expect(s.do("GET", "/v1/"+operator+"/events?after=garbage", nil, admin.token), 400, "a bad cursor").JSON(t)
		if msg, _ := r["message"].(string); !strings.Contains(msg, "after") {
			t.Errorf("bad cursor: %q", msg)
		}
		s.expect(s.do("PATCH", "/v1/"+webhook+"?updateMask=signingSecret", map[string]any{"signingSecret": "whsec_mine"}, admin.token), 400, "patch the secret")
		if list := s.expect(s.do("GET", "/v1/"+operator+"/webhooks", nil, admin.token), 200, "list").JSON(t); len(list["webhooks"].([]any)) != 1 {
			t.Errorf("bad input stored a webhook: %v", list)
		}
	})

	t.Run("redeliver and update", func(t *testing.T) {
		before := len(rcv.events())
		s.expect(s.do("POST", "/v1/"+delivery+":redeliver", map[string]any{}, admin.token), 200, "redeliver")
		hookEventually(t, "the redelivery", func() bool { return len(rcv.events()) > before })
		upd := s.expect(s.do("PATCH", "/v1/"+webhook, map[string]any{"description": "ERP (prod)"}, admin.token), 200, "update").JSON(t)
		if upd["description"] != "ERP (prod)" || upd["url"] != rcv.srv.URL+"/vigil" {
			t.Fatalf("updated %v", upd)
		}
	})

	// These parts need vault (uploads) and its event feed, and the second
	// directory (relationships); each skips while one has not landed.
	t.Run("a supplier's own upload reaches its endpoint and its feed", func(t *testing.T) {
		hookOwnUpload(t, s, rcv, supplier, supplierAdmin)
	})
	t.Run("a document uploaded then expired reaches the endpoint and the feed", func(t *testing.T) {
		hookDocumentFlow(t, s, rcv, operator, admin, supplier, supplierAdmin, secret)
	})
}

func hookEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hookSkipUnbuilt skips the rest of the test when a route answers 501: the
// service behind it has not implemented it yet (another issue).
func hookSkipUnbuilt(t *testing.T, r response, what string) {
	t.Helper()
	if r.Status == http.StatusNotImplemented {
		t.Skipf("SKIP (dependency not built yet): %s answers 501 Unimplemented; this part of the test runs once it lands", what)
	}
}

func hookDocumentFlow(t *testing.T, s *suite, rcv *hookReceiver, operator string, admin account, supplier string, supplierAdmin account, secret string) {
	link := s.do("POST", "/v1/"+operator+"/suppliers", map[string]any{"legalName": "ACME " + sirets[1], "country": "FR",
		"registrationNumber": sirets[1], "contact": map[string]any{"email": "carl@supplier.test", "givenName": "Carl", "familyName": "Contact"}}, admin.token)
	hookSkipUnbuilt(t, link, "directory's supplier registration (issue 8)")
	s.expect(link, 200, "link the supplier")
	docType := hookCompanyDocType(t, s, admin.token)
	req := s.do("POST", "/v1/"+operator+"/requirements", map[string]any{"documentType": docType, "scope": "REQUIREMENT_SCOPE_ALL_SUPPLIERS"}, admin.token)
	hookSkipUnbuilt(t, req, "vault's requirements (issue 9)")
	s.expect(req, 200, "require the document type")
	hookSkipWithoutFeed(t, s.Addr("vault"), "vault")
	// Vault learns of the relationship from directory's feed: wait until the
	// operator's compliance view has the supplier.
	view := "/v1/" + operator + "/suppliers/" + hookLastSegment(supplier) + "/compliance"
	hookSkipUnbuilt(t, s.do("GET", view, nil, admin.token), "vault's compliance (issue 10)")
	hookEventually(t, "the supplier in the operator's compliance view", func() bool { return s.do("GET", view, nil, admin.token).Status == 200 })

	today := time.Now().UTC()
	valid := s.hookUpload(supplier, supplierAdmin.token, docType, today.AddDate(0, -1, 0), today.AddDate(1, 0, 0))
	hookSkipUnbuilt(t, valid, "vault's uploads (issue 9)")
	doc := s.expect(valid, 200, "upload a valid document").JSON(t)
	forOperator := func(typ string, attrs ...string) func(hookEvent) bool {
		return func(e hookEvent) bool {
			if e.Type != typ || e.Data.Company != operator {
				return false
			}
			for i := 0; i+1 < len(attrs); i += 2 {
				if e.Data.Attributes[attrs[i]] != attrs[i+1] {
					return false
				}
			}
			return true
		}
	}
	uploaded := rcv.waitFor(t, "document.uploaded for the operator", forOperator("document.uploaded"))
	if !strings.HasPrefix(uploaded.Subject, operator+"/suppliers/") || !strings.HasSuffix(uploaded.Subject, "/documents/"+hookLastSegment(doc["name"])) {
		t.Errorf("document.uploaded subject %q for document %v", uploaded.Subject, doc["name"])
	}
	compliant := rcv.waitFor(t, "compliance.changed (compliant) for the operator", forOperator("compliance.changed", "compliant", "true"))

	// Let it expire: a newer version whose validity has ended.
	s.expect(s.hookUpload(supplier, supplierAdmin.token, docType, today.AddDate(-1, 0, 0), today.AddDate(0, 0, -2)), 200, "upload an expired version")
	expired := rcv.waitFor(t, "compliance.changed (not compliant) for the operator", forOperator("compliance.changed", "compliant", "false"))

	for _, e := range []hookEvent{uploaded, compliant, expired} {
		if !hookVerifySignature(e.Signature, e.Body, secret) || e.IdempotencyKey != e.ID {
			t.Errorf("%s %s: signature %q does not verify", e.Type, e.ID, e.Signature)
		}
	}
	for _, e := range rcv.events() {
		if e.Path == "/supplier" {
			continue // the supplier's own endpoint (hookOwnUpload)
		}
		if e.Type != "webhook.test" && e.Data.Company != operator {
			t.Errorf("the operator's endpoint received %s for %s (R-VAULT-3)", e.Type, e.Data.Company)
		}
	}
	// The change feed lists the same events, in order, from a cursor.
	var feedIDs []string
	cursor := ""
	for range 20 {
		page := s.expect(s.do("GET", "/v1/"+operator+"/events?pageSize=2&after="+cursor, nil, admin.token), 200, "the change feed").JSON(t)
		evs, _ := page["events"].([]any)
		for _, e := range evs {
			m := e.(map[string]any)
			if m["specversion"] != "1.0" || m["data"].(map[string]any)["company"] != operator {
				t.Fatalf("feed entry %v", m)
			}
			feedIDs = append(feedIDs, m["id"].(string))
		}
		cursor, _ = page["nextCursor"].(string)
		if len(evs) == 0 {
			break
		}
	}
	for _, e := range []hookEvent{uploaded, compliant, expired} {
		if !slices.Contains(feedIDs, e.ID) {
			t.Errorf("the feed %v lacks %s %s", feedIDs, e.Type, e.ID)
		}
	}
	if i, j := slices.Index(feedIDs, compliant.ID), slices.Index(feedIDs, expired.ID); i > j {
		t.Errorf("feed out of order: %v", feedIDs)
	}
}

// hookOwnUpload: a supplier's Administrator subscribes its own endpoint to
// document.uploaded and uploads a document: the event for the supplier
// itself arrives, signed, and its feed lists it.
func hookOwnUpload(t *testing.T, s *suite, rcv *hookReceiver, supplier string, admin account) {
	docType := hookCompanyDocType(t, s, admin.token)
	hookSkipWithoutFeed(t, s.Addr("vault"), "vault")
	w := s.expect(s.do("POST", "/v1/"+supplier+"/webhooks", map[string]any{"url": rcv.srv.URL + "/supplier", "eventTypes": []string{"document.uploaded"}}, admin.token), 200, "the supplier's webhook").JSON(t)
	secret, _ := w["signingSecret"].(string)
	today := time.Now().UTC()
	up := s.hookUpload(supplier, admin.token, docType, today.AddDate(0, -1, 0), today.AddDate(1, 0, 0))
	hookSkipUnbuilt(t, up, "vault's uploads (issue 9)")
	doc := s.expect(up, 200, "upload").JSON(t)
	ev := rcv.waitFor(t, "the supplier's document.uploaded", func(e hookEvent) bool {
		return e.Type == "document.uploaded" && e.Data.Company == supplier
	})
	if ev.Subject != doc["name"] || !hookVerifySignature(ev.Signature, ev.Body, secret) || ev.Data.Resources["document"] != doc["name"] {
		t.Fatalf("event %+v for document %v", ev, doc["name"])
	}
	feed := s.expect(s.do("GET", "/v1/"+supplier+"/events", nil, admin.token), 200, "the supplier's feed").JSON(t)
	evs, _ := feed["events"].([]any)
	if !slices.ContainsFunc(evs, func(e any) bool { return e.(map[string]any)["id"] == ev.ID }) {
		t.Fatalf("the supplier's feed %v lacks %s", evs, ev.ID)
	}
}

// hookCompanyDocType is a platform document type about a company.
func hookCompanyDocType(t *testing.T, s *suite, token string) string {
	t.Helper()
	types := s.do("GET", "/v1/documentTypes", nil, token)
	hookSkipUnbuilt(t, types, "vault's document types (issue 9)")
	for _, dt := range s.expect(types, 200, "document types").JSON(t)["documentTypes"].([]any) {
		if m := dt.(map[string]any); m["subject"] == "DOCUMENT_SUBJECT_COMPANY" {
			name, _ := m["name"].(string)
			return name
		}
	}
	t.Fatal("the platform catalog has no company document type")
	return ""
}

func hookLastSegment(v any) string {
	s, _ := v.(string)
	return s[strings.LastIndexByte(s, '/')+1:]
}

// hookSkipWithoutFeed skips when service does not serve its event feed yet.
// Any other answer (a refusal without a service certificate included)
// means it does.
func hookSkipWithoutFeed(t *testing.T, addr, service string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stream, err := eventsv1.NewEventsInternalServiceClient(conn).WatchEvents(ctx, &eventsv1.WatchEventsRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) == codes.Unimplemented {
		t.Skipf("SKIP (dependency not built yet): %s does not serve its event feed (EventsInternalService); this part of the test runs once it does", service)
	}
}

// hookUpload sends a PDF as a company document of the supplier.
func (s *suite) hookUpload(company, token, docType string, from, until time.Time) response {
	s.t.Helper()
	return s.notifyUpload(s.t, company, token, map[string]any{"documentType": docType, "subject": company, "fileName": "certificate.pdf",
		"validFrom": from.Format("2006-01-02"), "validUntil": until.Format("2006-01-02")})
}
