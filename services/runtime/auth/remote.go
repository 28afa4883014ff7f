package auth

import (
	"context"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
)

// NewRemoteVerifier is how a service other than identity verifies tokens:
// keys from identity's GetJwks, revocations from its WatchRevocations feed,
// followed in the background until ctx ends. conn is a client connection
// to identity (client.Dial).
func NewRemoteVerifier(ctx context.Context, conn grpc.ClientConnInterface, log *zap.Logger) *Verifier {
	v := NewVerifier(NewRemoteKeys(identityv1.NewIdentityServiceClient(conn)), NewRevocations())
	go Watch(ctx, identityv1.NewIdentityInternalServiceClient(conn), v.Revocations(), log)
	return v
}
