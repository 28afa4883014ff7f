package vault

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
)

// seed is the platform catalog every deployment starts with (issue 9
// point 1): the documents French and European customers collect most.
var seed = []DocumentType{
	{ID: "KBIS_EXTRACT", Subject: SubjectCompany, Category: CategoryLegal, DefaultValidityDays: 90, Texts: map[string]Text{
		"en": {"Certificate of incorporation (Kbis extract)", "Proof that the company is registered with the trade and companies register, less than three months old."},
		"fr": {"Extrait Kbis", "Justificatif d'immatriculation au registre du commerce et des sociétés datant de moins de trois mois."},
	}},
	{ID: "URSSAF_VIGILANCE", Subject: SubjectCompany, Category: CategoryRegulatory, DefaultValidityDays: 180, Texts: map[string]Text{
		"en": {"URSSAF vigilance certificate", "Certificate that the company declares its employees and pays its social contributions (attestation de vigilance), renewed every six months."},
		"fr": {"Attestation de vigilance URSSAF", "Attestation de fourniture des déclarations sociales et de paiement des cotisations, renouvelée tous les six mois."},
	}},
	{ID: "TAX_COMPLIANCE", Subject: SubjectCompany, Category: CategoryRegulatory, DefaultValidityDays: 365, Texts: map[string]Text{
		"en": {"Tax compliance certificate", "Certificate from the tax administration that the company has filed its returns and paid its taxes."},
		"fr": {"Attestation de régularité fiscale", "Attestation de l'administration fiscale que l'entreprise a déposé ses déclarations et payé ses impôts."},
	}},
	{ID: "CIVIL_LIABILITY_INSURANCE", Subject: SubjectCompany, Category: CategoryLegal, DefaultValidityDays: 365, Texts: map[string]Text{
		"en": {"Civil liability insurance", "Certificate of the company's civil (general) liability insurance for the current period."},
		"fr": {"Attestation d'assurance responsabilité civile", "Attestation d'assurance responsabilité civile de l'entreprise pour la période en cours."},
	}},
	{ID: "PROFESSIONAL_INDEMNITY_INSURANCE", Subject: SubjectCompany, Category: CategoryLegal, DefaultValidityDays: 365, Texts: map[string]Text{
		"en": {"Professional indemnity insurance", "Certificate of the company's professional liability (indemnity) insurance for the current period."},
		"fr": {"Attestation d'assurance responsabilité civile professionnelle", "Attestation d'assurance responsabilité civile professionnelle pour la période en cours."},
	}},
	{ID: "FOREIGN_WORKERS_LIST", Subject: SubjectCompany, Category: CategoryRegulatory, DefaultValidityDays: 180, Texts: map[string]Text{
		"en": {"List of foreign workers", "List of the employees subject to a work permit, with their nationality, type and number of permit."},
		"fr": {"Liste des salariés étrangers", "Liste nominative des salariés étrangers soumis à autorisation de travail, avec nationalité, type et numéro du titre."},
	}},
	{ID: "ISO_9001", Subject: SubjectCompany, Category: CategoryRegulatory, DefaultValidityDays: 1095, Texts: map[string]Text{
		"en": {"ISO 9001 certificate", "Quality management system certification."},
		"fr": {"Certificat ISO 9001", "Certification du système de management de la qualité."},
	}},
	{ID: "ISO_14001", Subject: SubjectCompany, Category: CategoryRegulatory, DefaultValidityDays: 1095, Texts: map[string]Text{
		"en": {"ISO 14001 certificate", "Environmental management system certification."},
		"fr": {"Certificat ISO 14001", "Certification du système de management environnemental."},
	}},
	{ID: "ISO_45001", Subject: SubjectCompany, Category: CategoryRegulatory, DefaultValidityDays: 1095, Texts: map[string]Text{
		"en": {"ISO 45001 certificate", "Occupational health and safety management system certification."},
		"fr": {"Certificat ISO 45001", "Certification du système de management de la santé et de la sécurité au travail."},
	}},
	{ID: "SAFETY_TRAINING", Subject: SubjectEmployee, Category: CategoryRegulatory, DefaultValidityDays: 1095, Texts: map[string]Text{
		"en": {"Safety training", "Certificate that the employee completed the safety training required on site."},
		"fr": {"Formation sécurité", "Attestation de formation à la sécurité requise sur site."},
	}},
	{ID: "WORK_PERMIT", Subject: SubjectEmployee, Category: CategoryRegulatory, DefaultValidityDays: 365, Texts: map[string]Text{
		"en": {"Work permit", "The employee's authorisation to work (residence or work permit)."},
		"fr": {"Autorisation de travail", "Titre de séjour ou autorisation de travail du salarié."},
	}},
	{ID: "MEDICAL_FITNESS", Subject: SubjectEmployee, Category: CategoryRegulatory, DefaultValidityDays: 730, Texts: map[string]Text{
		"en": {"Medical fitness certificate", "The occupational physician's certificate of fitness for the job."},
		"fr": {"Certificat d'aptitude médicale", "Avis d'aptitude délivré par la médecine du travail."},
	}},
	{ID: "ELECTRICAL_CLEARANCE", Subject: SubjectEmployee, Category: CategoryRegulatory, DefaultValidityDays: 1095, Texts: map[string]Text{
		"en": {"Electrical clearance", "The employee's electrical clearance (habilitation électrique) for the work done."},
		"fr": {"Habilitation électrique", "Titre d'habilitation électrique du salarié pour les travaux réalisés."},
	}},
}

// seedCatalog adds the seeded types that are missing; it never changes a
// type that exists (an administrator's catalog stays as it is).
func (s *Service) seedCatalog(ctx context.Context) error {
	return s.store.Update(ctx, func(tx Tx) error {
		for _, t := range seed {
			if _, err := tx.DocumentType(t.ID); err == nil {
				continue
			} else if !errors.Is(err, ErrNotFound) {
				return err
			}
			t := t
			t.CreateTime = s.now().UTC()
			if err := tx.PutDocumentType(&t); err != nil {
				return err
			}
		}
		return nil
	})
}

// documentType reads a type through the cache (types never change).
func (s *Service) documentType(tx Tx, id string) (*DocumentType, error) {
	if t, ok := s.types.Load(id); ok {
		return t.(*DocumentType), nil
	}
	t, err := tx.DocumentType(id)
	if err != nil {
		return nil, err
	}
	s.types.Store(id, t)
	return t, nil
}

// typeVisible reports whether company may see (and use) type t
// (R-VAULT-1): catalog types everyone, a SPECIFIC type its owner and the
// owner's suppliers.
func typeVisible(tx Tx, t *DocumentType, company string) (bool, error) {
	if t.Owner == "" || t.Owner == company {
		return true, nil
	}
	return tx.HasRelationship(t.Owner, company)
}

// customerType reads a type a customer may require or ask for (R-VAULT-1):
// a catalog type or its own SPECIFIC one; another customer's is unknown
// here, INVALID_ARGUMENT naming field like a type that does not exist.
func (s *Service) customerType(tx Tx, customer, id, field string) (*DocumentType, error) {
	t, err := s.documentType(tx, id)
	if errors.Is(err, ErrNotFound) || err == nil && t.Owner != "" && t.Owner != customer {
		return nil, errs.InvalidArgument(field, "unknown document type %s", names.DocumentType.Format(id))
	}
	return t, err
}

// TypeFilter filters ListDocumentTypes.
type TypeFilter struct {
	Company  string // "" the catalog only
	Subject  SubjectKind
	Category Category
}

// ListDocumentTypes lists the catalog and, with a company, the SPECIFIC
// types it sees (its own, its customers'), by id. The caller must be a
// member of the company.
func (s *Service) ListDocumentTypes(ctx context.Context, c Caller, f TypeFilter, p Page) ([]*DocumentType, string, error) {
	if f.Company != "" {
		if err := s.authorize(ctx, c, f.Company, authz.ReadMasterData); err != nil {
			return nil, "", err
		}
	} else if c.User == "" {
		return nil, "", errs.Unauthenticated(authz.ReasonNotSignedIn, "missing bearer access token")
	}
	var all []*DocumentType
	err := s.view(ctx, func(tx Tx) error {
		owners := []string{""}
		if f.Company != "" {
			customers, err := tx.Customers(f.Company)
			if err != nil {
				return err
			}
			owners = append(append(owners, f.Company), customers...)
		}
		for _, o := range owners {
			ts, err := tx.DocumentTypesOf(o)
			if err != nil {
				return err
			}
			all = append(all, ts...)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	all = slices.DeleteFunc(all, func(t *DocumentType) bool {
		return f.Subject != 0 && t.Subject != f.Subject || f.Category != 0 && t.Category != f.Category || t.ID <= p.After
	})
	slices.SortFunc(all, func(a, b *DocumentType) int { return strings.Compare(a.ID, b.ID) })
	next := ""
	if len(all) > p.Limit {
		all = all[:p.Limit]
		next = all[len(all)-1].ID
	}
	return all, next, nil
}

// CreateDocumentType adds a customer's SPECIFIC type (R-VAULT-1).
func (s *Service) CreateDocumentType(ctx context.Context, c Caller, customer string, t DocumentType) (*DocumentType, error) {
	if err := s.authorize(ctx, c, customer, authz.ManageSuppliers); err != nil {
		return nil, err
	}
	t.Owner, t.Category = customer, CategorySpecific
	chosen := t.ID
	if chosen == "" {
		chosen = names.NewID()
	}
	// Scoped by the owner: a customer can neither squat an id that the
	// catalog or another customer will want, nor learn by ALREADY_EXISTS
	// which ids another customer uses.
	t.ID = customer + "-" + chosen
	if !names.ValidID(t.ID) {
		return nil, errs.InvalidArgument("document_type_id", "must match [A-Za-z0-9_-] and be at most %d characters for this company", 64-len(customer)-1)
	}
	return s.createType(ctx, t)
}

// CreateCatalogDocumentType adds a LEGAL or REGULATORY type to the
// platform catalog (platform administrators, R-ID-11).
func (s *Service) CreateCatalogDocumentType(ctx context.Context, c Caller, t DocumentType) (*DocumentType, error) {
	if err := authz.Authorize(ctx, c.Subject(), "", authz.ManageCatalog, "", s.grants); err != nil {
		return nil, err
	}
	if t.Category != CategoryLegal && t.Category != CategoryRegulatory {
		return nil, errs.InvalidArgument("document_type.category", "must be DOCUMENT_CATEGORY_LEGAL or DOCUMENT_CATEGORY_REGULATORY")
	}
	t.Owner = ""
	return s.createType(ctx, t)
}

func (s *Service) createType(ctx context.Context, t DocumentType) (*DocumentType, error) {
	if !names.ValidID(t.ID) {
		return nil, errs.InvalidArgument("document_type_id", "must match [A-Za-z0-9_-]{1,64}")
	}
	if t.Subject != SubjectCompany && t.Subject != SubjectEmployee {
		return nil, errs.InvalidArgument("document_type.subject", "must be DOCUMENT_SUBJECT_COMPANY or DOCUMENT_SUBJECT_EMPLOYEE")
	}
	if strings.TrimSpace(t.Texts["en"].Name) == "" {
		return nil, errs.InvalidArgument("document_type.display_name", "must not be empty")
	}
	for _, lang := range Languages {
		if x, ok := t.Texts[lang]; !ok || strings.TrimSpace(x.Name) == "" {
			t.Texts[lang] = t.Texts["en"]
		}
	}
	t.CreateTime = s.now().UTC().Truncate(time.Microsecond)
	err := s.update(ctx, func(tx Tx) error {
		if _, err := tx.DocumentType(t.ID); err == nil {
			return errs.AlreadyExists(ReasonTypeExists, "document type %s already exists", names.DocumentType.Format(t.ID))
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		return tx.PutDocumentType(&t)
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}
