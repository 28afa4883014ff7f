package webhooks

import (
	"slices"
	"sync"
	"time"
)

// lookahead is how many deliveries of an endpoint may be claimed per
// attempt it may run at once: claims are made in bulk (one transaction for
// many deliveries) and wait in the endpoint's queue for a worker.
const lookahead = 8

// scheduler holds the claimed deliveries, one queue per endpoint, and hands
// them to the workers so that no endpoint runs more than its limit at once:
// PerEndpoint, or one probe at a time, spaced by backoff, while it fails. A
// worker never waits for a busy or failing endpoint while another has work,
// so a slow endpoint holds at most its own share of the workers.
type scheduler struct {
	perEndpoint int
	now         func() time.Time
	backoff     func(failures int) time.Duration
	// freed is signalled when an attempt ends: room for more claims.
	freed chan struct{}

	mu        sync.Mutex
	cond      *sync.Cond
	endpoints map[string]*endpointState
	ready     []string // endpoints with queued deliveries, in turn
	claimed   int      // queued or being attempted, every endpoint
	closed    bool
}

// endpointState is what the dispatcher holds of an endpoint: in memory,
// so a restart probes every endpoint afresh.
type endpointState struct {
	queue       []Delivery
	active      int
	failures    int
	pausedUntil time.Time
}

func newScheduler(perEndpoint int, now func() time.Time, backoff func(int) time.Duration) *scheduler {
	s := &scheduler{perEndpoint: perEndpoint, now: now, backoff: backoff, freed: make(chan struct{}, 1),
		endpoints: map[string]*endpointState{}}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// limits are how many attempts an endpoint may run at once and how many of
// its deliveries may be claimed.
func (s *scheduler) limits(st *endpointState) (active, claims int) {
	if st != nil && st.failures > 0 {
		return 1, 1
	}
	return s.perEndpoint, s.perEndpoint * lookahead
}

// paused reports whether st waits for its next probe; an ended pause is cleared.
func (s *scheduler) paused(st *endpointState) bool {
	if st == nil || st.pausedUntil.IsZero() {
		return false
	}
	if s.now().Before(st.pausedUntil) {
		return true
	}
	st.pausedUntil = time.Time{}
	return false
}

// room is how many more deliveries of endpoint may be claimed now. Once an
// endpoint has enough queued to keep its attempts busy, it waits until half
// its claims are spent, so that claims are made in bulk.
func (s *scheduler) room(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.endpoints[endpoint]
	if s.paused(st) {
		return 0
	}
	active, claims := s.limits(st)
	if st == nil {
		return claims
	}
	have := len(st.queue) + st.active
	if len(st.queue) >= active && have > claims/2 {
		return 0
	}
	return max(0, claims-have)
}

func (s *scheduler) claimedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claimed
}

// add queues claimed deliveries, except those of an endpoint that failed
// since they were claimed: those are handed back (rejected), like the
// queue of an endpoint that fails.
func (s *scheduler) add(batch []Delivery) (rejected []Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range batch {
		if s.paused(s.endpoints[d.Endpoint]) {
			rejected = append(rejected, d)
			continue
		}
		s.queue(d)
	}
	s.cond.Broadcast()
	return rejected
}

// requeue queues deliveries whatever their endpoint's state (they could
// not be handed back to the store).
func (s *scheduler) requeue(ds []Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		s.queue(d)
	}
	s.cond.Broadcast()
}

// queue puts one claimed delivery in its endpoint's queue (s.mu held).
func (s *scheduler) queue(d Delivery) {
	st := s.endpoints[d.Endpoint]
	if st == nil {
		st = &endpointState{}
		s.endpoints[d.Endpoint] = st
	}
	if len(st.queue) == 0 {
		s.ready = append(s.ready, d.Endpoint)
	}
	st.queue = append(st.queue, d)
	s.claimed++
}

// next waits for a delivery a worker may attempt now; false once closed.
// Endpoints take turns.
func (s *scheduler) next() (Delivery, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.closed {
		for i, ep := range s.ready {
			st := s.endpoints[ep]
			if active, _ := s.limits(st); st.active >= active || s.paused(st) {
				continue
			}
			d := st.queue[0]
			st.queue = st.queue[1:]
			st.active++
			s.ready = append(s.ready[:i], s.ready[i+1:]...)
			if len(st.queue) > 0 {
				s.ready = append(s.ready, ep)
			}
			return d, true
		}
		s.cond.Wait()
	}
	return Delivery{}, false
}

// finished records the end of an attempt and what it says of the
// endpoint. When the endpoint failed, the deliveries queued for it are
// handed back (released): the caller returns them to the store, so that a
// failing endpoint holds no claims while it waits for its next probe.
func (s *scheduler) finished(endpoint string, h Health, at time.Time) (released []Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claimed--
	st := s.endpoints[endpoint]
	if st == nil {
		return nil
	}
	st.active--
	switch h {
	case HealthOK:
		st.failures, st.pausedUntil = 0, time.Time{}
	case HealthFailed:
		st.failures++
		st.pausedUntil = at.Add(s.backoff(st.failures))
		released, st.queue = st.queue, nil
		s.claimed -= len(released)
		if i := slices.Index(s.ready, endpoint); i >= 0 && len(released) > 0 {
			s.ready = slices.Delete(s.ready, i, i+1)
		}
	}
	if st.active <= 0 && len(st.queue) == 0 && st.failures == 0 {
		delete(s.endpoints, endpoint)
	}
	s.cond.Broadcast()
	select {
	case s.freed <- struct{}{}:
	default:
	}
	return released
}

// unpause lets a paused endpoint be tried now.
func (s *scheduler) unpause(endpoint string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.endpoints[endpoint]; st != nil {
		st.pausedUntil = time.Time{}
	}
	s.cond.Broadcast()
}

// forget drops an endpoint's failures (it was disabled: its backlog drains
// at once, each delivery dead without an attempt).
func (s *scheduler) forget(endpoint string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.endpoints[endpoint]; st != nil {
		st.failures, st.pausedUntil = 0, time.Time{}
	}
	s.cond.Broadcast()
}

// poll lets the workers look again (a pause may have ended).
func (s *scheduler) poll() {
	s.mu.Lock()
	s.cond.Broadcast()
	s.mu.Unlock()
}

// nextUnpause is the wait until the first paused endpoint may be tried; a
// pause that ended since last looked at counts as ending now.
func (s *scheduler) nextUnpause(now time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best time.Duration
	found := false
	for _, st := range s.endpoints {
		if st.pausedUntil.IsZero() {
			continue
		}
		if w := max(st.pausedUntil.Sub(now), 0); !found || w < best {
			best, found = w, true
		}
	}
	return best, found
}

// close ends next for every worker; queued deliveries stay claimed in the
// store and are released at the next start.
func (s *scheduler) close() {
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
}
