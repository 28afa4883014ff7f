package client

import (
	"context"
	"errors"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/vigil/vigil/services/runtime/config"
)

// Conns are a process's connections to the other services, by name
// (identity, directory, vault, notify): each dialled once, at the
// configured address, on first use, unless a test gave one. Close closes
// those it dialled.
type Conns struct {
	cfg   *config.Common
	given map[string]grpc.ClientConnInterface

	mu      sync.Mutex
	dialled map[string]*grpc.ClientConn
	order   []*grpc.ClientConn
}

// NewConns returns the connections of a process; given replaces some by
// name (nil entries are dialled).
func NewConns(cfg *config.Common, given map[string]grpc.ClientConnInterface) *Conns {
	return &Conns{cfg: cfg, given: given, dialled: map[string]*grpc.ClientConn{}}
}

// Get returns the connection to the named service.
func (c *Conns) Get(name string) (grpc.ClientConnInterface, error) {
	if g := c.given[name]; g != nil {
		return g, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn := c.dialled[name]; conn != nil {
		return conn, nil
	}
	addr := c.cfg.ServiceAddr(name)
	if addr == "" {
		return nil, errors.New("no address for service " + name)
	}
	conn, err := Dial(c.cfg, addr)
	if err != nil {
		return nil, err
	}
	c.dialled[name] = conn
	c.order = append(c.order, conn)
	return conn, nil
}

// Dial returns the connections to the named services, in the order named.
func (c *Conns) Dial(names ...string) ([]grpc.ClientConnInterface, error) {
	out := make([]grpc.ClientConnInterface, len(names))
	for i, name := range names {
		conn, err := c.Get(name)
		if err != nil {
			return nil, err
		}
		out[i] = conn
	}
	return out, nil
}

// Close closes the connections Get dialled, last first.
func (c *Conns) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for i := len(c.order) - 1; i >= 0; i-- {
		errs = append(errs, c.order[i].Close())
	}
	c.order, c.dialled = nil, map[string]*grpc.ClientConn{}
	return errors.Join(errs...)
}

// AsService is ctx for a service's own call to another: the caller's
// credentials, which Dial's interceptors forward otherwise, are not, and
// the request id is kept.
func AsService(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	out := metadata.MD{}
	if id := md.Get(requestIDKey); len(id) > 0 {
		out.Set(requestIDKey, id[0])
	}
	ctx = metadata.NewIncomingContext(ctx, metadata.MD{})
	return metadata.NewOutgoingContext(ctx, out)
}
