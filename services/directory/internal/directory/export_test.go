package directory

import "context"

// RunImportsOnce runs the worker's import step once (tests).
func (s *Service) RunImportsOnce(ctx context.Context) error { return s.runImports(ctx) }

// RetryContactsOnce runs the worker's contact step once (tests).
func (s *Service) RetryContactsOnce(ctx context.Context) error { return s.retryContacts(ctx) }
