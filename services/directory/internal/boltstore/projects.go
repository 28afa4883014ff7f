package boltstore

import (
	"context"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/protoconv"
	"github.com/vigil/vigil/services/runtime/storage"
)

// projectCursor is a project's place in the newest-first indexes.
func projectCursor(p directory.Project) string { return newestFirst(p.CreateTime.UnixNano()) + p.ID }

func stateKey(customer string, state directory.ProjectState, cursor string) []byte {
	return []byte(customer + "/" + strconv.Itoa(int(state)) + "/" + cursor)
}

// CreateProject implements directory.Store.
func (s *Store) CreateProject(ctx context.Context, p directory.Project) error {
	return s.update(ctx, func(t *txn) error {
		if _, err := getCompany(t.tx, p.Customer); err != nil {
			return err
		}
		if t.b(bucketProjects).Get(pairKey(p.Customer, p.ID)) != nil {
			return fmt.Errorf("project id %s already used", p.ID)
		}
		if err := storage.PutProto(t.tx, bucketProjects, pairKey(p.Customer, p.ID), protoconv.Project(p)); err != nil {
			return err
		}
		if err := t.b(bucketProjectsByTime).Put(pairKey(p.Customer, projectCursor(p)), []byte{}); err != nil {
			return err
		}
		if err := t.b(bucketProjectsByState).Put(stateKey(p.Customer, p.State, projectCursor(p)), []byte{}); err != nil {
			return err
		}
		return t.emit(directory.ProjectChangedEvent(p, p.CreateTime))
	})
}

func getProject(tx *bolt.Tx, customer, id string) (directory.Project, error) {
	var m directoryv1.Project
	if err := getProto(tx, bucketProjects, pairKey(customer, id), &m); err != nil {
		return directory.Project{}, err
	}
	return protoconv.ProjectFrom(&m)
}

// Project implements directory.Store.
func (s *Store) Project(ctx context.Context, customer, id string) (directory.Project, error) {
	var out directory.Project
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = getProject(tx, customer, id)
		return err
	})
	return out, err
}

// UpdateProject implements directory.Store.
func (s *Store) UpdateProject(ctx context.Context, customer, id string, mutate func(p *directory.Project) error) (directory.Project, error) {
	var out directory.Project
	err := s.update(ctx, func(t *txn) error {
		p, err := getProject(t.tx, customer, id)
		if err != nil {
			return err
		}
		before := p
		if err := mutate(&p); err != nil {
			return err
		}
		p.ID, p.Customer, p.CreateTime = before.ID, before.Customer, before.CreateTime
		if err := storage.PutProto(t.tx, bucketProjects, pairKey(customer, id), protoconv.Project(p)); err != nil {
			return err
		}
		if p.State != before.State {
			if err := t.b(bucketProjectsByState).Delete(stateKey(customer, before.State, projectCursor(before))); err != nil {
				return err
			}
			if err := t.b(bucketProjectsByState).Put(stateKey(customer, p.State, projectCursor(p)), []byte{}); err != nil {
				return err
			}
		}
		out = p
		return t.emit(directory.ProjectChangedEvent(p, p.UpdateTime))
	})
	return out, err
}

// ListProjects implements directory.Store.
func (s *Store) ListProjects(ctx context.Context, customer string, state directory.ProjectState, after string, limit int) ([]directory.Project, []string, error) {
	var out []directory.Project
	var cursors []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b, base := tx.Bucket(bucketProjectsByTime), prefixKey(customer)
		if state != directory.ProjectStateUnspecified {
			b, base = tx.Bucket(bucketProjectsByState), prefixKey(customer, strconv.Itoa(int(state)))
		}
		return scan(b, base, base, after, limit, func(cursor string, _ []byte) error {
			if len(cursor) <= 16 {
				return fmt.Errorf("bad project index key %q", cursor)
			}
			p, err := getProject(tx, customer, cursor[16:])
			if err != nil {
				return err
			}
			out, cursors = append(out, p), append(cursors, cursor)
			return nil
		})
	})
	return out, cursors, err
}
