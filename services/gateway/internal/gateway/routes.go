package gateway

import (
	"context"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	directorygw "github.com/vigil/vigil/gen/gateway/vigil/directory/v1"
	identitygw "github.com/vigil/vigil/gen/gateway/vigil/identity/v1"
	notifygw "github.com/vigil/vigil/gen/gateway/vigil/notify/v1"
	vaultgw "github.com/vigil/vigil/gen/gateway/vigil/vault/v1"
)

type registerFunc func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error

// registrations lists, per upstream, the generated route sets it serves.
// Adding a service to the API is one line here.
var registrations = map[string][]registerFunc{
	"identity": {
		identitygw.RegisterIdentityServiceHandler,
	},
	"directory": {
		directorygw.RegisterCompanyServiceHandler,
		directorygw.RegisterSupplierServiceHandler,
		directorygw.RegisterSupplierImportServiceHandler,
		directorygw.RegisterCustomerServiceHandler,
		directorygw.RegisterEmployeeServiceHandler,
		directorygw.RegisterProjectServiceHandler,
	},
	"vault": {
		vaultgw.RegisterDocumentTypeServiceHandler,
		vaultgw.RegisterRequirementServiceHandler,
		vaultgw.RegisterDocumentServiceHandler,
		vaultgw.RegisterComplianceServiceHandler,
	},
	"notify": {
		notifygw.RegisterNotificationServiceHandler,
		notifygw.RegisterJobServiceHandler,
		notifygw.RegisterWebhookServiceHandler,
	},
}
