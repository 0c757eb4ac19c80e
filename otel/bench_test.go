package nsalinkotel_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	nsalinkotel "github.com/nsalink/nsalink/otel"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// BenchmarkLookupEPA prices the observer on one fake USPS call (GET
// payment-account, platform token cached): "bare" without it, "otel" with
// the SDK's metrics and a sampled span per attempt. Compare the two as a
// ratio within one run:
//
//	go test -run '^$' -bench LookupEPA -benchmem -count 6 ./otel/
func BenchmarkLookupEPA(b *testing.B) {
	srv := uspsbiztest.NewServer(b,
		uspsbiztest.WithApp(uspsbiztest.App{ClientID: clientID, ClientSecret: clientSecret, Name: "Acme Ship", RedirectURIs: []string{redirectURI}, CRID: platformCRID}),
		uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{Username: username, Password: password, MFACode: mfaCode,
			CRID: custCRID, MIDs: []string{custMID}, EPAs: []uspsbiztest.EPA{{AccountNumber: epsCanary}}}),
	)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(discard{}))
	b.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = tp.Shutdown(context.Background())
	})
	obs, err := nsalinkotel.New(mp, tp)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		opts []uspsbiz.Option
	}{{"bare", nil}, {"otel", obs.ClientOptions()}} {
		c, err := uspsbiz.New(append([]uspsbiz.Option{uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)), uspsbiz.WithClock(srv.Now),
			uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: clientID, ClientSecret: clientSecret})}, bc.opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.PlatformToken(b.Context()); err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.LookupEPA(b.Context(), usps.EPSAccount(epsCanary)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// discard is a span processor that keeps nothing: the benchmark measures
// building spans, not storing them.
type discard struct{}

func (discard) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discard) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discard) Shutdown(context.Context) error                  { return nil }
func (discard) ForceFlush(context.Context) error                { return nil }
