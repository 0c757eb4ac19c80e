package nsalinkotel_test

import (
	"context"
	"log"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/memstore"
	nsalinkotel "github.com/nsalink/nsalink/otel"
	"github.com/nsalink/nsalink/uspsbiz"
)

// Wiring in a host, with the providers the host configured globally
// (exporters are the host's choice). Not run: it would call USPS.
func Example() {
	ctx := context.Background()
	obs, err := nsalinkotel.New(otel.GetMeterProvider(), otel.GetTracerProvider())
	if err != nil {
		log.Fatal(err)
	}
	client, err := uspsbiz.New(append([]uspsbiz.Option{
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: "app-id", ClientSecret: "from-your-secret-manager"}),
		uspsbiz.WithBudget(uspsbiz.APIPayments, uspsbiz.Budget{PerHour: 60}),
	}, obs.ClientOptions()...)...)
	if err != nil {
		log.Fatal(err)
	}
	obs.ObserveQuota(client)

	store := memstore.New() // sqlite.Open or postgres.Open in production
	sealer, err := linking.NewAESGCMSealer("k1", map[string][]byte{"k1": make([]byte, 32)})
	if err != nil {
		log.Fatal(err)
	}
	linker, err := linking.New(client, store, sealer, append([]linking.Option{
		linking.WithRedirectURI("https://ship.example/usps/callback"),
		linking.WithPlatform("Acme Ship", "9999001"),
	}, obs.LinkerOptions()...)...)
	if err != nil {
		log.Fatal(err)
	}
	_ = linker

	// On one instance only: the fleet's links by state and reason.
	go func() {
		_ = obs.ScanLinks(ctx, store, nsalinkotel.LinkScan{Interval: 5 * time.Minute})
	}()
}
