package directory

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"strings"

	"github.com/vigil/vigil/services/directory/internal/regnum"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
)

// Supplier is a relationship seen from its customer: the supplier company's
// master data (R-DIR-7) and what registering it did.
type Supplier struct {
	Company      Company
	Relationship Relationship
	Outcome      Outcome // set by CreateSupplier only
}

// SupplierInput is a registration by a customer (R-DIR-3).
type SupplierInput struct {
	RegistrationNumber, LegalName, Country string
	Address                                Address
	Contact                                Contact
}

// CreateSupplier registers a supplier for customer (R-DIR-3): a
// registration number already known is linked, never duplicated (R-DIR-1);
// an unknown one creates a SUPPLIER company with no user yet; an already
// linked supplier changes nothing (ALREADY_LINKED). The contact becomes a
// user of the supplier and the customer's reference (R-DIR-5): queued with
// the link in one transaction, then sent to identity at once (and again in
// the background should identity not answer).
func (s *Service) CreateSupplier(ctx context.Context, p auth.Principal, customer string, in SupplierInput) (Supplier, error) {
	if err := s.authorize(ctx, p, customer, authz.ManageSuppliers, ""); err != nil {
		return Supplier{}, err
	}
	cust, err := s.company(ctx, customer)
	if err != nil {
		return Supplier{}, err
	}
	contact := in.Contact
	checked, err := checkSupplier(apiSupplierFields, supplierInput{Number: in.RegistrationNumber, LegalName: in.LegalName,
		Country: in.Country, Address: in.Address, Contact: &contact}, "")
	if err != nil {
		return Supplier{}, err
	}
	reg := s.registration(cust, checked, apiSupplierFields, actorOf(p), "", 0)
	res, err := s.store.RegisterSupplier(ctx, reg)
	if err != nil {
		return Supplier{}, registrationError(apiSupplierFields, err)
	}
	if res.PendingContact != "" {
		pc := *reg.Contact
		pc.ID, pc.Supplier = res.PendingContact, res.Supplier.ID
		pc.SyncFirst = res.Outcome == OutcomeCreated
		s.sendContacts(ctx, []PendingContact{pc})
		if rel, err := s.store.Relationship(ctx, customer, res.Supplier.ID); err == nil {
			res.Relationship = rel
		}
	}
	return Supplier{Company: res.Supplier, Relationship: res.Relationship, Outcome: res.Outcome}, nil
}

// registration builds the store's registration of a checked supplier for
// customer cust; importID and row locate an import row.
func (s *Service) registration(cust Company, in supplierInput, f fieldNames, actor, importID string, row uint64) Registration {
	now := s.now().UTC()
	reg := Registration{
		Customer: cust.ID,
		NewCompany: Company{ID: names.NewID(), LegalName: in.LegalName, Kind: KindSupplier, Country: in.Country,
			RegistrationNumber: in.Number, Address: in.Address, CreateTime: now, UpdateTime: now},
		Accept: func(existing Company) error {
			if existing.Kind != KindSupplier {
				return errs.FailedPrecondition("REGISTERED_AS_OPERATOR",
					"%s: the company registered with this number is an operator (a customer), not a supplier", f.number)
			}
			return nil
		},
		Time: now,
	}
	if in.Contact != nil {
		reg.Contact = &PendingContact{Customer: cust.ID, Contact: *in.Contact, Actor: actor, Language: cust.Language,
			Import: importID, Row: row, CreateTime: now}
	}
	return reg
}

// registrationError names what refused a registration.
func registrationError(f fieldNames, err error) error {
	var de *errs.Error
	switch {
	case errors.As(err, &de):
		return err
	case errors.Is(err, ErrSelfLink):
		return errs.FailedPrecondition("OWN_COMPANY", "%s: this is the customer's own registration number", f.number)
	case errors.Is(err, ErrNotFound):
		return errCompanyNotFound()
	}
	return errs.Internal(err)
}

func actorOf(p auth.Principal) string {
	if p.PlatformAdmin {
		return ""
	}
	return p.User
}

// GetSupplier returns one supplier of customer; NOT_FOUND when the company
// is not its supplier.
func (s *Service) GetSupplier(ctx context.Context, p auth.Principal, customer, supplier string) (Supplier, error) {
	if err := s.authorize(ctx, p, customer, authz.ViewSuppliers, ""); err != nil {
		return Supplier{}, err
	}
	rel, err := s.relationship(ctx, customer, supplier, errSupplierNotFound)
	if err != nil {
		return Supplier{}, err
	}
	c, err := s.company(ctx, supplier)
	if err != nil {
		return Supplier{}, err
	}
	return Supplier{Company: c, Relationship: rel}, nil
}

// ListFilter filters a name-ordered list of relationships.
type ListFilter struct {
	NamePrefix         string
	RegistrationNumber string
}

func (f ListFilter) query(after string, limit int) ListQuery {
	q := ListQuery{NamePrefix: FoldName(f.NamePrefix), After: after, Limit: limit}
	if f.RegistrationNumber != "" {
		q.Number = regnum.Normalize(f.RegistrationNumber)
	}
	return q
}

// ListSuppliers pages through customer's suppliers by legal name.
func (s *Service) ListSuppliers(ctx context.Context, p auth.Principal, customer string, f ListFilter, pageToken string, pageSize int) ([]Supplier, string, error) {
	if err := s.authorize(ctx, p, customer, authz.ViewSuppliers, ""); err != nil {
		return nil, "", err
	}
	rel, next, err := s.relatedPage(ctx, customer, f, pageToken, pageSize, s.store.ListSuppliers)
	out := make([]Supplier, len(rel))
	for i, r := range rel {
		out[i] = Supplier{Company: r.Company, Relationship: r.Relationship}
	}
	return out, next, err
}

type relatedLister func(ctx context.Context, company string, q ListQuery) ([]Related, error)

func (s *Service) relatedPage(ctx context.Context, company string, f ListFilter, pageToken string, pageSize int, list relatedLister) ([]Related, string, error) {
	size, err := pageSizeOf(pageSize, DefaultPageSize, MaxPageSize)
	if err != nil {
		return nil, "", err
	}
	after, err := cursorToken(pageToken)
	if err != nil {
		return nil, "", err
	}
	rel, err := list(ctx, company, f.query(after, size+1))
	if err != nil {
		return nil, "", errs.Internal(err)
	}
	rel, next := pageOf(rel, size, func(i int) string { return rel[i].Cursor })
	return rel, next, nil
}

// DeleteSupplier ends a relationship at once (R-VAULT-3 depends on it):
// assignments of the supplier's employees to the customer's projects end
// with it, and both companies are told (`supplier.unlinked`).
func (s *Service) DeleteSupplier(ctx context.Context, p auth.Principal, customer, supplier string) error {
	if err := s.authorize(ctx, p, customer, authz.ManageSuppliers, ""); err != nil {
		return err
	}
	err := s.store.Unlink(ctx, customer, supplier, s.now().UTC())
	if errors.Is(err, ErrNotFound) {
		return errSupplierNotFound()
	}
	if err != nil {
		return errs.Internal(err)
	}
	return nil
}

// ExportSuppliers writes customer's whole supplier list (filtered) as CSV to
// w: UTF-8 with a byte order mark, a header line, one line per supplier in
// list order, page by page so that memory does not grow with the list.
func (s *Service) ExportSuppliers(ctx context.Context, p auth.Principal, customer string, f ListFilter, w io.Writer) error {
	if err := s.authorize(ctx, p, customer, authz.ViewSuppliers, ""); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"registration_number", "country", "legal_name", "address", "postal_code", "city", "supplier", "linked_since"}); err != nil {
		return err
	}
	after := ""
	for {
		page, err := s.store.ListSuppliers(ctx, customer, f.query(after, MaxPageSize))
		if err != nil {
			return errs.Internal(err)
		}
		for _, r := range page {
			c := r.Company
			if err := cw.Write([]string{c.RegistrationNumber, c.Country, safeCell(c.LegalName), safeCell(strings.Join(c.Address.Lines, ", ")),
				safeCell(c.Address.PostalCode), safeCell(c.Address.City), names.Supplier.Format(customer, c.ID),
				r.Relationship.CreateTime.UTC().Format("2006-01-02")}); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		if len(page) < MaxPageSize {
			return nil
		}
		after = page[len(page)-1].Cursor
	}
}

// safeCell keeps a spreadsheet from reading a cell as a formula (CSV
// injection): a value starting with = + - @ gets a leading quote.
func safeCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// ContactView is a supplier user shown to a customer because it is its
// reference (R-DIR-8).
type ContactView struct {
	Supplier string // company id
	User     string // user id
	Contact  Contact
}

// ListContacts pages through the supplier users who are customer's
// references, with their details (R-DIR-8); no other supplier user is ever
// shown.
func (s *Service) ListContacts(ctx context.Context, p auth.Principal, customer, supplier, pageToken string, pageSize int) ([]ContactView, string, error) {
	if err := s.authorize(ctx, p, customer, authz.ViewSuppliers, ""); err != nil {
		return nil, "", err
	}
	rel, err := s.relationship(ctx, customer, supplier, errSupplierNotFound)
	if err != nil {
		return nil, "", err
	}
	size, err := pageSizeOf(pageSize, DefaultPageSize, MaxPageSize)
	if err != nil {
		return nil, "", err
	}
	after, err := idToken(pageToken)
	if err != nil {
		return nil, "", err
	}
	refs := rel.References
	if after != "" {
		for i, u := range refs {
			if u == after {
				refs = refs[i+1:]
				break
			}
		}
	}
	refs, next := pageOf(refs, size, func(i int) string { return refs[i] })
	if len(refs) == 0 {
		return nil, next, nil
	}
	users := make([]string, len(refs))
	for i, u := range refs {
		users[i] = names.Member.Format(supplier, u)
	}
	members, err := s.identity.Members(ctx, users)
	if err != nil {
		return nil, "", err
	}
	out := make([]ContactView, 0, len(members))
	for _, m := range members {
		if m.Company != supplier {
			continue
		}
		out = append(out, ContactView{Supplier: supplier, User: m.User, Contact: m.Contact})
	}
	return out, next, nil
}

// CreateContact adds a contact to a supplier for customer (R-DIR-5): a user
// of the supplier through identity (invited; Administrator when the
// supplier has no user yet, else Restricted user, decided by identity), and
// customer's reference.
func (s *Service) CreateContact(ctx context.Context, p auth.Principal, customer, supplier string, c Contact) (ContactView, error) {
	if err := s.authorize(ctx, p, customer, authz.ManageSuppliers, ""); err != nil {
		return ContactView{}, err
	}
	rel, err := s.relationship(ctx, customer, supplier, errSupplierNotFound)
	if err != nil {
		return ContactView{}, err
	}
	c, err = checkContact(apiContactFields, c)
	if err != nil {
		return ContactView{}, err
	}
	if len(rel.References) >= MaxReferences {
		return ContactView{}, errTooManyReferences()
	}
	cust, err := s.company(ctx, customer)
	if err != nil {
		return ContactView{}, err
	}
	m, err := s.identity.AddMember(ctx, NewMember{Company: supplier, Contact: c, InvitedBy: customer, Actor: actorOf(p), Language: cust.Language})
	if err != nil {
		return ContactView{}, contactError(err)
	}
	_, _, err = s.store.AddReference(ctx, customer, supplier, m.User)
	switch {
	case errors.Is(err, ErrNotFound):
		return ContactView{}, errSupplierNotFound()
	case errors.Is(err, ErrTooManyReferences):
		return ContactView{}, errTooManyReferences()
	case err != nil:
		return ContactView{}, errs.Internal(err)
	}
	return ContactView{Supplier: supplier, User: m.User, Contact: m.Contact}, nil
}

// contactError names identity's refusal of a contact.
func contactError(err error) error {
	var de *errs.Error
	if errors.As(err, &de) && (de.Kind == errs.KindInvalidArgument || de.Kind == errs.KindFailedPrecondition) {
		return errs.InvalidArgument("contact", "refused by the identity service: %s", de.Message)
	}
	return err
}

func errTooManyReferences() error {
	return errs.FailedPrecondition("TOO_MANY_REFERENCES", "a supplier has at most %d references for one customer", MaxReferences)
}

func errSupplierNotFound() error {
	return errs.NotFound("SUPPLIER_NOT_FOUND", "supplier not found among this company's suppliers")
}

func errCustomerNotFound() error {
	return errs.NotFound("CUSTOMER_NOT_FOUND", "customer not found among this company's customers")
}

// relationship reads a relationship, notFound when it does not exist.
func (s *Service) relationship(ctx context.Context, customer, supplier string, notFound func() error) (Relationship, error) {
	rel, err := s.store.Relationship(ctx, customer, supplier)
	if errors.Is(err, ErrNotFound) {
		return Relationship{}, notFound()
	}
	if err != nil {
		return Relationship{}, errs.Internal(err)
	}
	return rel, nil
}
