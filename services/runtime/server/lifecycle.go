package server

import (
	"context"
	"fmt"
	"sync"
)

// Every service's app wires itself in one order, each step registering its
// closer as it opens (closers run in reverse, after the gRPC server has
// drained its calls):
//
//	srv := server.New(…)                      // the server
//	srv.OnClose(telemetry.Setup(…))           // telemetry
//	conns := client.NewConns(…); srv.OnClose(conns.Close)  // connections
//	store := boltstore.Open(…); srv.OnClose(store.Close)    // store
//	bg := server.NewBackground(ctx); srv.OnClose(bg.Close) // background work
//	… register handlers, srv.SetAuth(…), srv.MarkServing()
//	return bg.Wait(srv.Run(bg.Context()))
//
// A step that fails returns srv.Abort(err), which closes what is open.

// SetAuth sets the authenticator of the calls (Options.Auth) when it is
// built from what is opened after the server (the domain, a connection to
// identity). Call it before Run.
func (s *Server) SetAuth(a Authenticator) { s.chain.auth = a }

// Abort runs the closers registered so far, last first, and returns err:
// the way out of a service's wiring when a step after New fails.
func (s *Server) Abort(err error) error {
	s.runClosers()
	return err
}

// Detached returns a context for work that must outlive the process's
// context, as the calls being drained rely on it (the revocation watch
// behind the authenticator), and that ends among the closers, where
// Detached was called in the wiring.
func (s *Server) Detached(ctx context.Context) context.Context {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.OnClose(func() error { cancel(); return nil })
	return c
}

// Background runs a service's background work (workers, relays, feed
// followers) beside its server. Its tasks are not cancelled with the
// process's context: they run until Close, which the server calls among
// its closers once the gRPC server has drained its calls, so that a call's
// last effects are still processed and the store closes only after the
// tasks returned. A task that fails stops the server: Context ends, and
// Wait returns the failure.
type Background struct {
	ctx    context.Context // the tasks'
	stop   context.CancelFunc
	run    context.Context // the server's
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu  sync.Mutex
	err error
}

// NewBackground prepares the background work of a process whose context
// is ctx.
func NewBackground(ctx context.Context) *Background {
	b := &Background{}
	b.ctx, b.stop = context.WithCancel(context.WithoutCancel(ctx))
	b.run, b.cancel = context.WithCancel(ctx)
	return b
}

// Go starts a task; name prefixes its error.
func (b *Background) Go(name string, task func(context.Context) error) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if err := task(b.ctx); err != nil && b.ctx.Err() == nil {
			b.mu.Lock()
			if b.err == nil {
				b.err = fmt.Errorf("%s: %w", name, err)
			}
			b.mu.Unlock()
			b.cancel()
		}
	}()
}

// Context is the context to serve under: the process's, ended as well when
// a task fails.
func (b *Background) Context() context.Context { return b.run }

// Close stops the tasks and waits for them to return (a closer).
func (b *Background) Close() error {
	b.stop()
	b.wg.Wait()
	b.cancel()
	return nil
}

// Wait returns the server's error (Run's), else the failure of a task.
func (b *Background) Wait(runErr error) error {
	if runErr != nil {
		return runErr
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}
