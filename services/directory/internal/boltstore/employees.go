package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/protoconv"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/storage"
)

func employeeNameKey(e directory.Employee) []byte {
	return []byte(e.Supplier + "/" + directory.FoldName(e.FamilyName) + "\x00" + directory.FoldName(e.GivenName) + "\x00" + e.ID)
}

// CreateEmployee implements directory.Store.
func (s *Store) CreateEmployee(ctx context.Context, e directory.Employee) error {
	return s.update(ctx, func(t *txn) error {
		if _, err := getCompany(t.tx, e.Supplier); err != nil {
			return err
		}
		key := pairKey(e.Supplier, e.ID)
		if t.b(bucketEmployees).Get(key) != nil {
			return fmt.Errorf("employee id %s already used", e.ID)
		}
		return t.putEmployee(e, nil)
	})
}

// putEmployee stores e and moves its name index entry from before's.
func (t *txn) putEmployee(e directory.Employee, before *directory.Employee) error {
	e.Projects = nil
	if err := storage.PutProto(t.tx, bucketEmployees, pairKey(e.Supplier, e.ID), protoconv.Employee(e)); err != nil {
		return err
	}
	if before != nil {
		if err := t.b(bucketEmployeesByName).Delete(employeeNameKey(*before)); err != nil {
			return err
		}
	}
	return t.b(bucketEmployeesByName).Put(employeeNameKey(e), []byte{})
}

func getEmployee(tx *bolt.Tx, supplier, id string) (directory.Employee, error) {
	var m directoryv1.Employee
	if err := getProto(tx, bucketEmployees, pairKey(supplier, id), &m); err != nil {
		return directory.Employee{}, err
	}
	e, err := protoconv.EmployeeFrom(&m)
	if err != nil {
		return e, err
	}
	prefix := prefixKey(supplier, id)
	cur := tx.Bucket(bucketAssignmentsByEmployee).Cursor()
	for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		c, p, ok := strings.Cut(string(k[len(prefix):]), "/")
		if !ok {
			return e, fmt.Errorf("bad assignment key %q", k)
		}
		e.Projects = append(e.Projects, directory.ProjectRef{Customer: c, Project: p})
	}
	return e, nil
}

// Employee implements directory.Store.
func (s *Store) Employee(ctx context.Context, supplier, id string) (directory.Employee, error) {
	var out directory.Employee
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = getEmployee(tx, supplier, id)
		return err
	})
	return out, err
}

// UpdateEmployee implements directory.Store.
func (s *Store) UpdateEmployee(ctx context.Context, supplier, id string, mutate func(e *directory.Employee) error) (directory.Employee, error) {
	var out directory.Employee
	err := s.update(ctx, func(t *txn) error {
		e, err := getEmployee(t.tx, supplier, id)
		if err != nil {
			return err
		}
		before := e
		if err := mutate(&e); err != nil {
			return err
		}
		e.ID, e.Supplier, e.Projects = before.ID, before.Supplier, before.Projects
		out = e
		return t.putEmployee(e, &before)
	})
	return out, err
}

// DeleteEmployee implements directory.Store.
func (s *Store) DeleteEmployee(ctx context.Context, supplier, id string, now time.Time) error {
	return s.update(ctx, func(t *txn) error {
		e, err := getEmployee(t.tx, supplier, id)
		if err != nil {
			return err
		}
		for _, p := range e.Projects {
			if err := t.unassign(directory.Assignment{Customer: p.Customer, Project: p.Project, Supplier: supplier, Employee: id}, now); err != nil {
				return err
			}
		}
		if err := t.b(bucketEmployees).Delete(pairKey(supplier, id)); err != nil {
			return err
		}
		if err := t.b(bucketEmployeesByName).Delete(employeeNameKey(e)); err != nil {
			return err
		}
		return t.emit(directory.EmployeeDeletedEvent(supplier, id, now))
	})
}

// ListEmployees implements directory.Store.
func (s *Store) ListEmployees(ctx context.Context, supplier, after string, limit int) ([]directory.Employee, []string, error) {
	var out []directory.Employee
	var cursors []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		base := prefixKey(supplier)
		return scan(tx.Bucket(bucketEmployeesByName), base, base, after, limit, func(suffix string, _ []byte) error {
			i := strings.LastIndexByte(suffix, 0)
			if i < 0 {
				return fmt.Errorf("bad employee name key %q", suffix)
			}
			e, err := getEmployee(tx, supplier, suffix[i+1:])
			if err != nil {
				return err
			}
			out, cursors = append(out, e), append(cursors, suffix)
			return nil
		})
	})
	return out, cursors, err
}

func assignmentKeys(a directory.Assignment) (byProject, byPair, byEmployee []byte) {
	return []byte(a.Customer + "/" + a.Project + "/" + a.Supplier + "/" + a.Employee),
		[]byte(a.Customer + "/" + a.Supplier + "/" + a.Project + "/" + a.Employee),
		[]byte(a.Supplier + "/" + a.Employee + "/" + a.Customer + "/" + a.Project)
}

// Assign implements directory.Store.
func (s *Store) Assign(ctx context.Context, a directory.Assignment) (bool, error) {
	changed := false
	err := s.update(ctx, func(t *txn) error {
		if t.b(bucketEmployees).Get(pairKey(a.Supplier, a.Employee)) == nil {
			return directory.ErrEmployeeNotFound
		}
		// R-DIR-9: only projects of the supplier's customers; asked before
		// the project is read, so that a refusal tells nothing of another
		// company's projects.
		if t.b(bucketSuppliersByCustomer).Get(pairKey(a.Customer, a.Supplier)) == nil {
			return directory.ErrNotRelated
		}
		p, err := getProject(t.tx, a.Customer, a.Project)
		if errors.Is(err, directory.ErrNotFound) {
			return directory.ErrProjectNotFound
		}
		if err != nil {
			return err
		}
		byProject, byPair, byEmployee := assignmentKeys(a)
		if t.b(bucketAssignmentsByProject).Get(byProject) != nil {
			return nil
		}
		if p.State != directory.ProjectActive {
			return directory.ErrProjectClosed
		}
		if err := storage.PutProto(t.tx, bucketAssignmentsByProject, byProject, protoconv.Assignment(a)); err != nil {
			return err
		}
		if err := t.b(bucketAssignmentsByPair).Put(byPair, []byte{}); err != nil {
			return err
		}
		if err := t.b(bucketAssignmentsByEmployee).Put(byEmployee, []byte{}); err != nil {
			return err
		}
		changed = true
		return t.emit(directory.AssignmentEvents(feed.TypeEmployeeAssigned, a, a.CreateTime)...)
	})
	return changed, err
}

// Unassign implements directory.Store.
func (s *Store) Unassign(ctx context.Context, a directory.Assignment) (bool, error) {
	changed := false
	err := s.update(ctx, func(t *txn) error {
		if t.b(bucketEmployees).Get(pairKey(a.Supplier, a.Employee)) == nil {
			return directory.ErrEmployeeNotFound
		}
		byProject, _, _ := assignmentKeys(a)
		if t.b(bucketAssignmentsByProject).Get(byProject) == nil {
			return nil
		}
		changed = true
		return t.unassign(a, a.CreateTime)
	})
	return changed, err
}

// unassign deletes an existing assignment with its events.
func (t *txn) unassign(a directory.Assignment, now time.Time) error {
	byProject, byPair, byEmployee := assignmentKeys(a)
	for _, e := range []struct {
		b   storage.Bucket
		key []byte
	}{{bucketAssignmentsByProject, byProject}, {bucketAssignmentsByPair, byPair}, {bucketAssignmentsByEmployee, byEmployee}} {
		if err := t.b(e.b).Delete(e.key); err != nil {
			return err
		}
	}
	return t.emit(directory.AssignmentEvents(feed.TypeEmployeeUnassigned, a, now)...)
}

// ListAssignments implements directory.Store.
func (s *Store) ListAssignments(ctx context.Context, q directory.AssignmentQuery) ([]directory.Assignment, []string, error) {
	var out []directory.Assignment
	var cursors []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		read := func(a directory.Assignment, cursor string) error {
			byProject, _, _ := assignmentKeys(a)
			v := tx.Bucket(bucketAssignmentsByProject).Get(byProject)
			if v == nil {
				return fmt.Errorf("assignment index without record %q", byProject)
			}
			var m directoryv1.Assignment
			if err := unmarshal(bucketAssignmentsByProject, byProject, v, &m); err != nil {
				return err
			}
			a, err := protoconv.AssignmentFrom(&m)
			if err != nil {
				return err
			}
			out, cursors = append(out, a), append(cursors, cursor)
			return nil
		}
		split := func(s string, n int) ([]string, error) {
			parts := strings.Split(s, "/")
			if len(parts) != n {
				return nil, fmt.Errorf("bad assignment key %q", s)
			}
			return parts, nil
		}
		switch {
		case q.Employee != "":
			// {supplier}/{employee}/{customer}/{project}
			base := prefixKey(q.Supplier, q.Employee)
			filter := prefixKey(q.Supplier, q.Employee, q.Customer)
			if q.Project != "" {
				filter = append(filter, q.Project...)
			}
			return scan(tx.Bucket(bucketAssignmentsByEmployee), base, filter, q.After, q.Limit, func(suffix string, _ []byte) error {
				p, err := split(suffix, 2)
				if err != nil || (q.Project != "" && p[1] != q.Project) {
					return err
				}
				return read(directory.Assignment{Customer: p[0], Project: p[1], Supplier: q.Supplier, Employee: q.Employee}, suffix)
			})
		case q.Project != "" || q.Supplier == "":
			// {customer}/{project}/{supplier}/{employee}
			base := prefixKey(q.Customer)
			filter := base
			if q.Project != "" {
				filter = prefixKey(q.Customer, q.Project)
				if q.Supplier != "" {
					filter = prefixKey(q.Customer, q.Project, q.Supplier)
				}
			}
			return scan(tx.Bucket(bucketAssignmentsByProject), base, filter, q.After, q.Limit, func(suffix string, v []byte) error {
				p, err := split(suffix, 3)
				if err != nil {
					return err
				}
				return read(directory.Assignment{Customer: q.Customer, Project: p[0], Supplier: p[1], Employee: p[2]}, suffix)
			})
		default:
			// {customer}/{supplier}/{project}/{employee}
			base := prefixKey(q.Customer, q.Supplier)
			return scan(tx.Bucket(bucketAssignmentsByPair), base, base, q.After, q.Limit, func(suffix string, _ []byte) error {
				p, err := split(suffix, 2)
				if err != nil {
					return err
				}
				return read(directory.Assignment{Customer: q.Customer, Project: p[0], Supplier: q.Supplier, Employee: p[1]}, suffix)
			})
		}
	})
	return out, cursors, err
}
