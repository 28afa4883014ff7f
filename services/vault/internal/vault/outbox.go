package vault

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/runtime/outbox"
)

// Outbound kinds.
const (
	OutboundRejected = "document_rejected"
	OutboundRequest  = "document_update_request"
)

// Outbound is an e-mail the vault owes (R-VAULT-7, R-NOTIF-3), queued in
// the transaction of the change that causes it and relayed to notify after
// the commit, with an idempotency key per outbound and language, so that a
// resend after a crash is harmless (R-NOTIF-5).
type Outbound struct {
	ID            string    `json:"id"`
	Kind          string    `json:"kind"`
	Customer      string    `json:"customer"`
	Supplier      string    `json:"supplier"`
	Document      string    `json:"document,omitempty"`
	DocumentType  string    `json:"document_type,omitempty"`
	Employee      string    `json:"employee,omitempty"`
	FileName      string    `json:"file_name,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	DocumentTypes []string  `json:"document_types,omitempty"`
	Message       string    `json:"message,omitempty"`
	Recipients    []Person  `json:"recipients,omitempty"` // resolved already (requests)
	Time          time.Time `json:"time"`
}

// The e-mail relay (runtime/outbox) hands queued outbounds to notify, one
// notification per language (render).
func (s *Service) newRelay() *outbox.Relay[*Outbound, Notification] {
	return outbox.New(outbox.Options[*Outbound, Notification]{
		Queue: outboundQueue{s}, Messages: s.render, Send: s.notifier.Enqueue, Log: s.log,
		Describe: func(n Notification) []zap.Field { return []zap.Field{zap.String("idempotency_key", n.IdempotencyKey)} },
	})
}

// relayOutbox hands queued e-mails to notify until ctx ends.
func (s *Service) relayOutbox(ctx context.Context) {
	if s.relay != nil {
		s.relay.Run(ctx)
	}
}

// RelayOnce relays one batch (tests); it reports whether more are queued.
func (s *Service) RelayOnce(ctx context.Context) (bool, error) { return s.relay.Once(ctx) }

// outboundQueue is the relay's view of the store's outbox.
type outboundQueue struct{ s *Service }

func (q outboundQueue) Queued(ctx context.Context, limit int) (queued []*Outbound, err error) {
	err = q.s.view(ctx, func(tx Tx) error {
		queued, err = tx.Outbox(limit)
		return err
	})
	return queued, err
}

func (q outboundQueue) Remove(ctx context.Context, o *Outbound) error {
	return q.s.store.Update(ctx, func(tx Tx) error { return tx.DeleteOutbox(o.ID) })
}

// render resolves an outbound's addressees and data, one notification per
// language so that each reads the document types' names in its own.
func (s *Service) render(ctx context.Context, o *Outbound) ([]Notification, error) {
	people := o.Recipients
	if o.Kind == OutboundRejected {
		// R-VAULT-7 (issue 10 point 5): the supplier's users who may upload
		// the document. Not its references as such: a reference is a
		// Restricted user unless the supplier made it more (R-DIR-5), and
		// the e-mail tells of a certificate (its file name, the customer's
		// reason) that a Restricted user may not view (R-ID-3).
		perm := authz.UploadCompanyCertificates
		if o.Employee != "" {
			perm = authz.UploadEmployeeCertificates
		}
		uploaders, err := s.identity.Members(ctx, o.Supplier, perm)
		if err != nil {
			return nil, err
		}
		people = uploaders
	}
	seen := map[string]bool{}
	byLang := map[string][]Person{}
	for _, p := range people {
		key := p.Email
		if p.User != "" {
			key = p.User
		}
		if p.Email == "" || seen[key] {
			continue
		}
		seen[key] = true
		lang := p.Language
		if lang != "fr" {
			lang = "en"
		}
		byLang[lang] = append(byLang[lang], p)
	}
	if len(byLang) == 0 {
		s.log.Warn("no one to e-mail", zap.String("kind", o.Kind), zap.String("supplier", o.Supplier))
		return nil, nil
	}
	var customerName, employeeName string
	if err := s.view(ctx, func(tx Tx) error { customerName = companyName(tx, o.Customer); return nil }); err != nil {
		return nil, err
	}
	if o.Employee != "" {
		name, err := s.directory.Employee(ctx, o.Supplier, o.Employee)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		employeeName = name
	}
	langs := make([]string, 0, len(byLang))
	for l := range byLang {
		langs = append(langs, l)
	}
	slices.Sort(langs)
	var out []Notification
	for _, lang := range langs {
		n := Notification{IdempotencyKey: "vault-" + o.Kind + "-" + o.ID + "-" + lang, Recipients: byLang[lang], Company: names.Company.Format(o.Supplier),
			Data: map[string]any{"customer_name": customerName}}
		if s.cfg.PublicURL != "" {
			n.Data["link"] = s.cfg.PublicURL + "/" + names.Document.Format(o.Supplier, o.Document)
		}
		switch o.Kind {
		case OutboundRejected:
			n.Template = TemplateDocumentRejected
			n.Data["document_type"] = s.typeText(ctx, o.DocumentType, lang)
			n.Data["reason"] = o.Reason
			if o.FileName != "" {
				n.Data["document_name"] = o.FileName
			}
			if employeeName != "" {
				n.Data["employee_name"] = employeeName
			}
		case OutboundRequest:
			n.Template = TemplateDocumentUpdateRequest
			if s.cfg.PublicURL != "" {
				n.Data["link"] = s.cfg.PublicURL + "/" + names.Customer.Format(o.Supplier, o.Customer) + "/compliance"
			}
			var names []any
			for _, t := range o.DocumentTypes {
				names = append(names, s.typeText(ctx, t, lang))
			}
			if len(names) > 0 {
				n.Data["document_types"] = names
			}
			if o.Message != "" {
				n.Data["message"] = o.Message
			}
		}
		out = append(out, n)
	}
	return out, nil
}

func (s *Service) typeText(ctx context.Context, id, lang string) string {
	name := names.DocumentType.Format(id)
	_ = s.view(ctx, func(tx Tx) error {
		if t, err := s.documentType(tx, id); err == nil {
			name = t.Text(lang).Name
		}
		return nil
	})
	return name
}
