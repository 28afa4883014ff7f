package vault

import (
	"context"
	"errors"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/names"
)

// The vault keeps its own copy of what it needs of directory — the
// relationships, the assignments of employees to projects, the projects'
// states, the companies' names and time zones — by following directory's
// event feed with a durable cursor, applied in the same transaction as the
// compliance each event moves. Visibility (R-VAULT-3) and compliance
// (R-VAULT-6) both read this copy, so they never disagree, and no read asks
// directory. Directory wakes its watchers on commit: ending a relationship
// reaches the vault in milliseconds (its poll bounds the delay at 500 ms
// when a wake is missed). A cursor older than directory retains (OUT_OF_RANGE)
// triggers a full resynchronisation (ResyncDirectory).

// DirectoryFeed names directory's feed for cursors and logs.
const DirectoryFeed = "directory"

// DirectoryEventTypes are the directory events the vault applies.
var DirectoryEventTypes = []string{
	feed.TypeSupplierLinked, feed.TypeSupplierUnlinked, feed.TypeEmployeeAssigned, feed.TypeEmployeeUnassigned,
	feed.TypeEmployeeDeleted, feed.TypeProjectChanged, feed.TypeCompanyChanged,
}

// DirectoryCursor is the last directory event applied.
func (s *Service) DirectoryCursor(ctx context.Context) (n uint64, err error) {
	err = s.view(ctx, func(tx Tx) error { n, err = tx.Cursor(DirectoryFeed); return err })
	return n, err
}

func companyOf(name string) string {
	id, _ := names.Company.Match(name)
	return id
}

// ApplyDirectoryEvent applies one event of directory's feed and records its
// sequence, in one transaction; applying an event twice changes nothing
// more (the feed may repeat after a crash).
func (s *Service) ApplyDirectoryEvent(ctx context.Context, e feed.Event) error {
	if feed.IsSkip(e) {
		return s.update(ctx, func(tx Tx) error { return tx.PutCursor(DirectoryFeed, e.Sequence) })
	}
	r := e.Resources
	customer, supplier := companyOf(r[feed.ResourceCustomer]), companyOf(r[feed.ResourceSupplier])
	var apply func(tx Tx) error
	switch e.Type {
	case feed.TypeSupplierLinked, feed.TypeSupplierUnlinked:
		if customer == "" || supplier == "" {
			break
		}
		linked := e.Type == feed.TypeSupplierLinked
		if linked {
			if err := s.learnCompanies(ctx, customer, supplier); err != nil {
				return err
			}
		}
		apply = func(tx Tx) error {
			if linked {
				if err := tx.PutRelationship(customer, supplier); err != nil {
					return err
				}
			} else if err := tx.DeleteRelationship(customer, supplier); err != nil {
				return err
			}
			return s.refreshPairs(tx, [][2]string{{customer, supplier}})
		}
	case feed.TypeEmployeeAssigned, feed.TypeEmployeeUnassigned:
		supplier, employee, ok1 := names.Employee.Match(r[feed.ResourceEmployee])
		customer, project, ok2 := names.Project.Match(r[feed.ResourceProject])
		if !ok1 || !ok2 {
			break
		}
		a := Assignment{Customer: customer, Supplier: supplier, Employee: employee, Project: project}
		assigned := e.Type == feed.TypeEmployeeAssigned
		apply = func(tx Tx) error {
			if assigned {
				if _, err := tx.Project(a.Customer, a.Project); errors.Is(err, ErrNotFound) {
					if err := tx.PutProject(&Project{Customer: a.Customer, ID: a.Project}); err != nil {
						return err
					}
				}
				if err := tx.PutAssignment(a); err != nil {
					return err
				}
			} else if err := tx.DeleteAssignment(a); err != nil {
				return err
			}
			return s.refreshPairs(tx, [][2]string{{a.Customer, a.Supplier}})
		}
	case feed.TypeEmployeeDeleted:
		supplier, employee, ok := names.Employee.Match(r[feed.ResourceEmployee])
		if !ok {
			break
		}
		apply = func(tx Tx) error {
			as, err := tx.EmployeeAssignments(supplier, employee)
			if err != nil {
				return err
			}
			var pairs [][2]string
			for _, a := range as {
				if err := tx.DeleteAssignment(a); err != nil {
					return err
				}
				pairs = append(pairs, [2]string{a.Customer, a.Supplier})
			}
			return s.refreshPairs(tx, pairs)
		}
	case feed.TypeProjectChanged:
		customer, project, ok := names.Project.Match(r[feed.ResourceProject])
		if !ok {
			break
		}
		closed := strings.Contains(strings.ToUpper(e.Attributes["state"]), "CLOSED")
		apply = func(tx Tx) error {
			if err := tx.PutProject(&Project{Customer: customer, ID: project, Closed: closed}); err != nil {
				return err
			}
			as, err := tx.ProjectAssignments(customer, project)
			if err != nil {
				return err
			}
			var pairs [][2]string
			for _, a := range as {
				pairs = append(pairs, [2]string{a.Customer, a.Supplier})
			}
			return s.refreshPairs(tx, pairs)
		}
	case feed.TypeCompanyChanged:
		id := companyOf(e.Company)
		if id == "" {
			break
		}
		apply = func(tx Tx) error {
			c, err := tx.Company(id)
			if errors.Is(err, ErrNotFound) {
				c, err = &Company{ID: id}, nil
			}
			if err != nil {
				return err
			}
			renamed := false
			if v, ok := e.Attributes["legal_name"]; ok && v != c.Name {
				c.Name, renamed = v, true
			}
			if v, ok := e.Attributes["time_zone"]; ok {
				c.TimeZone = v
			}
			if v, ok := e.Attributes["language"]; ok {
				c.Language = v
			}
			if err := tx.PutCompany(c); err != nil {
				return err
			}
			if !renamed {
				return nil
			}
			// The name index of the customers' lists moves with the name.
			sums, err := tx.SupplierSummaries(id)
			if err != nil {
				return err
			}
			for _, sum := range sums {
				sum.SupplierName = c.Name
				if err := tx.PutSummary(sum); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if apply == nil {
		s.log.Warn("directory event without the resources it needs; skipped", zap.String("type", e.Type), zap.Uint64("sequence", e.Sequence))
	}
	return s.update(ctx, func(tx Tx) error {
		if apply != nil {
			if err := apply(tx); err != nil {
				return err
			}
		}
		return tx.PutCursor(DirectoryFeed, e.Sequence)
	})
}

// refreshPairs refreshes (customer, supplier) pairs, each once.
func (s *Service) refreshPairs(tx Tx, pairs [][2]string) error {
	slices.SortFunc(pairs, func(a, b [2]string) int { return strings.Compare(a[0]+"/"+a[1], b[0]+"/"+b[1]) })
	pairs = slices.Compact(pairs)
	ctxs := map[string]*custCtx{}
	for _, p := range pairs {
		cc, ok := ctxs[p[0]]
		if !ok {
			var err error
			if cc, err = s.customerCtx(tx, p[0]); err != nil {
				return err
			}
			ctxs[p[0]] = cc
		}
		if err := s.refreshPair(tx, cc, p[1]); err != nil {
			return err
		}
	}
	return nil
}

// learnCompanies fetches the names, time zones and languages of companies
// the vault does not know yet.
func (s *Service) learnCompanies(ctx context.Context, ids ...string) error {
	var missing []string
	if err := s.view(ctx, func(tx Tx) error {
		for _, id := range ids {
			if _, err := tx.Company(id); errors.Is(err, ErrNotFound) {
				missing = append(missing, id)
			} else if err != nil {
				return err
			}
		}
		return nil
	}); err != nil || len(missing) == 0 {
		return err
	}
	found, err := s.directory.Companies(ctx, missing)
	if err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx Tx) error {
		for i := range found {
			if err := tx.PutCompany(&found[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// ResyncDirectory rebuilds the vault's copy of directory after a gap in
// its feed (the vault was away longer than directory keeps events): every
// company, every customer's suppliers and assignments, compared with the
// copy and applied pair by pair with their compliance. It returns
// prunedThrough, after which the feed resumes (events replayed after a
// resync are applied idempotently).
func (s *Service) ResyncDirectory(ctx context.Context, prunedThrough uint64) (uint64, error) {
	s.log.Warn("resynchronising with directory (its feed no longer holds the vault's cursor)", zap.Uint64("pruned_through", prunedThrough))
	var operators []string
	var batch []Company
	flush := func() error {
		err := s.store.Update(ctx, func(tx Tx) error {
			for i := range batch {
				prev, err := tx.Company(batch[i].ID)
				if err == nil && prev.Name != batch[i].Name {
					sums, err := tx.SupplierSummaries(batch[i].ID)
					if err != nil {
						return err
					}
					for _, sum := range sums {
						sum.SupplierName = batch[i].Name
						if err := tx.PutSummary(sum); err != nil {
							return err
						}
					}
				}
				if err := tx.PutCompany(&batch[i]); err != nil {
					return err
				}
			}
			return nil
		})
		batch = batch[:0]
		return err
	}
	if err := s.directory.AllCompanies(ctx, func(c Company, operator bool) error {
		if operator {
			operators = append(operators, c.ID)
		}
		batch = append(batch, c)
		if len(batch) == 500 {
			return flush()
		}
		return nil
	}); err != nil {
		return 0, err
	}
	if err := flush(); err != nil {
		return 0, err
	}
	isOperator := map[string]bool{}
	for _, customer := range operators {
		isOperator[customer] = true
		if err := s.resyncCustomer(ctx, customer); err != nil {
			return 0, err
		}
	}
	// Relationships of customers directory no longer lists as operators.
	p := Page{Limit: 1000}
	var stale []string
	for {
		var rels [][2]string
		var next string
		if err := s.view(ctx, func(tx Tx) error {
			var err error
			rels, next, err = tx.Relationships(p)
			return err
		}); err != nil {
			return 0, err
		}
		for _, r := range rels {
			if !isOperator[r[0]] && (len(stale) == 0 || stale[len(stale)-1] != r[0]) {
				stale = append(stale, r[0])
			}
		}
		if next == "" {
			break
		}
		p.After = next
	}
	for _, customer := range stale {
		if err := s.resyncCustomer(ctx, customer); err != nil {
			return 0, err
		}
	}
	return prunedThrough, nil
}

// resyncCustomer makes one customer's relationships and assignments what
// directory says, refreshing the pairs that change.
func (s *Service) resyncCustomer(ctx context.Context, customer string) error {
	suppliers, err := s.directory.SuppliersOf(ctx, customer)
	if err != nil {
		return err
	}
	assigns, err := s.directory.AssignmentsOf(ctx, customer)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, sup := range suppliers {
		want[sup] = true
	}
	wantA := map[Assignment]bool{}
	for _, a := range assigns {
		wantA[a] = true
	}
	return s.update(ctx, func(tx Tx) error {
		touched := map[string]bool{}
		p := Page{Limit: 1000}
		for {
			have, next, err := tx.Suppliers(customer, p)
			if err != nil {
				return err
			}
			for _, sup := range have {
				if !want[sup] {
					if err := tx.DeleteRelationship(customer, sup); err != nil {
						return err
					}
					touched[sup] = true
				}
				delete(want, sup)
			}
			if next == "" {
				break
			}
			p.After = next
		}
		for sup := range want {
			if err := tx.PutRelationship(customer, sup); err != nil {
				return err
			}
			touched[sup] = true
		}
		haveA, err := tx.CustomerAssignments(customer)
		if err != nil {
			return err
		}
		for _, a := range haveA {
			if !wantA[a] {
				if err := tx.DeleteAssignment(a); err != nil {
					return err
				}
				touched[a.Supplier] = true
			}
			delete(wantA, a)
		}
		for a := range wantA {
			if err := tx.PutAssignment(a); err != nil {
				return err
			}
			touched[a.Supplier] = true
		}
		var pairs [][2]string
		for sup := range touched {
			pairs = append(pairs, [2]string{customer, sup})
		}
		return s.refreshPairs(tx, pairs)
	})
}
