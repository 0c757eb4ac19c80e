package main

// This file is the host's whole glue to nsalink: the part to copy. The rest
// of the demo is its UI (ui.go, templates/) and the fake USPS (fakeusps.go).

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/sqlstore"
	"github.com/nsalink/nsalink/linking/sqlstore/sqlite"
	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/nsarates/uspsload"
	"github.com/nsalink/nsalink/uspsbiz"
)

// nsa is the host's nsalink: links in a SQLite store, and label rates.
type nsa struct {
	linker *linking.Linker
	store  sqlstore.Store
	pricer *nsarates.Pricer
}

// newNSA connects to USPS as the platform app (client id and secret from
// USPS; callbackURL is its registered redirect URI) and opens the SQLite link
// store. sealKey (32 random bytes) encrypts customer tokens at rest: in
// production it comes from your secret manager. pay says who pays postage
// (the customer's EPS account, or the platform's own) and whether return
// labels are authorized: the credentials form asks for what it needs.
//
// The rate tables: commercial is the published table the platform has (a
// file); it is stored once and every instance's pricer gets it. A link that
// becomes active gets its customer's contract table from USPS's prices API
// with the customer's token: every product and tier of the commercial table
// in every zone, zones given as ZIP pairs of USPS's zone chart.
func newNSA(ctx context.Context, app uspsbiz.Credentials, uspsURL, copURL, callbackURL string,
	dbPath string, sealKey []byte, pricer *nsarates.Pricer, commercial *nsarates.Table,
	zones map[nsarates.Zone]uspsload.ZIPPair, pay linking.PaymentModel, log *slog.Logger) (*nsa, error) {
	usps, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(uspsURL)), uspsbiz.WithCOPURL(copURL), uspsbiz.WithCredentials(app))
	if err != nil {
		return nil, err
	}
	sealer, err := linking.NewAESGCMSealer("key-1", map[string][]byte{"key-1": sealKey})
	if err != nil {
		return nil, err
	}
	store, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return nil, err
	}
	plan := uspsload.Plan{Info: nsarates.TableInfo{ID: "Priority Mail Contract", Version: "2026-01"}}
	for _, p := range commercial.Products() {
		plan.Products = append(plan.Products, p)
		plan.Tiers = commercial.Tiers(p) // the demo's table has one product
	}
	for z := range zones {
		plan.Zones = append(plan.Zones, z)
	}
	slices.Sort(plan.Zones)
	contracts, err := linking.ContractFromUSPS(linking.USPSTables{Plan: plan, Zones: zones, MaxCallsPerRun: 60})
	if err != nil {
		return nil, errors.Join(err, store.Close())
	}
	linker, err := linking.New(usps, store, sealer, linking.WithRedirectURI(callbackURL),
		linking.WithPlatform(platformName, platformCRID), linking.WithLogger(log), linking.WithPaymentModel(pay),
		linking.WithTables(pricer, contracts),
		linking.WithBackoff(time.Second, 10*time.Second)) // demo: recheck pending links fast
	if err != nil {
		return nil, errors.Join(err, store.Close())
	}
	if err := linker.SetCommercialTable(ctx, commercial); err != nil {
		return nil, errors.Join(err, store.Close())
	}
	return &nsa{linker: linker, store: store, pricer: pricer}, nil
}

// mount serves POST /usps/start (off to the USPS sign-in) and GET
// /usps/callback (back from it, then on to /settings/usps).
func (n *nsa) mount(mux *http.ServeMux, identify func(*http.Request) (account, session string, ok bool)) error {
	h, err := n.linker.Handler(linking.HandlerOptions{Identify: identify, ReturnTo: "/settings/usps"})
	if err == nil {
		mux.Handle("/usps/", http.StripPrefix("/usps", h))
	}
	return err
}

// saveCredentials stores CRID, MID and EPS and checks them with USPS. Bad
// input comes back as a message per field (crid, mid, manifest_mid, eps);
// a USPS outage leaves the link pending with Status.LastError set.
func (n *nsa) saveCredentials(ctx context.Context, account string, in linking.CredentialsInput) (linking.Status, map[string]string, error) {
	st, err := n.linker.SubmitCredentials(ctx, account, in)
	var bad *linking.CredentialsError
	if !errors.As(err, &bad) {
		return st, nil, err
	}
	problems := map[string]string{}
	for _, f := range bad.Fields {
		problems[f.Field] = f.Message
	}
	return st, problems, nil
}

// unlink revokes the platform's access at USPS and unlinks the account;
// actor names who did it in the link's audit trail.
func (n *nsa) unlink(ctx context.Context, account, actor string) error {
	return n.linker.Unlink(ctx, account, actor)
}

// view is what the pages show: state, banner, pop-up, steps, action needed.
func (n *nsa) view(ctx context.Context, account string) (linking.StatusView, error) {
	st, err := n.linker.Status(ctx, account)
	return n.linker.View(st, nil), err
}

// reconcile moves pending links forward until ctx ends; run it on every instance.
func (n *nsa) reconcile(ctx context.Context) {
	n.linker.RunReconciler(ctx, time.Second, linking.ReconcileOptions{})
}

// sync keeps this instance's tables and link cache current and fetches the
// tables of newly active links, until ctx ends; run it on every instance.
func (n *nsa) sync(ctx context.Context, log *slog.Logger) {
	if err := n.linker.RunSync(ctx); err != nil {
		log.Error("linkdemo: RunSync", slog.String("error", err.Error()))
	}
}

// quote prices s for the account: at its NSA rate while its link is active
// and its table has the price, otherwise at commercial rates with the
// reason (q.NotNSA).
func (n *nsa) quote(ctx context.Context, account string, s nsarates.Shipment) (linking.Quote, error) {
	return n.linker.Quote(ctx, n.pricer, account, s)
}
