package vault

import "context"

// DropIfOrphan is dropIfOrphan, for the tests of package vault_test.
func (s *Service) DropIfOrphan(ctx context.Context, i *BlobIntent) { s.dropIfOrphan(ctx, i) }
