package main

// This file is the host's whole glue to nsalink: the part to copy. The rest
// of the demo is its UI (ui.go, templates/) and the fake USPS (fakeusps.go).

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/sqlstore"
	"github.com/nsalink/nsalink/linking/sqlstore/sqlite"
	"github.com/nsalink/nsalink/nsarates"
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
func newNSA(ctx context.Context, app uspsbiz.Credentials, uspsURL, copURL, callbackURL string,
	dbPath string, sealKey []byte, pricer *nsarates.Pricer, pay linking.PaymentModel, log *slog.Logger) (*nsa, error) {
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
	linker, err := linking.New(usps, store, sealer, linking.WithRedirectURI(callbackURL),
		linking.WithPlatform(platformName, platformCRID), linking.WithLogger(log), linking.WithPaymentModel(pay),
		linking.WithBackoff(time.Second, 10*time.Second)) // demo: recheck pending links fast
	if err != nil {
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

// view is what the pages show: state, banner, pop-up, steps, action needed.
func (n *nsa) view(ctx context.Context, account string) (linking.StatusView, error) {
	st, err := n.linker.Status(ctx, account)
	return n.linker.View(st, nil), err
}

// reconcile moves pending links forward until ctx ends; run it on every instance.
func (n *nsa) reconcile(ctx context.Context) {
	n.linker.RunReconciler(ctx, time.Second, linking.ReconcileOptions{})
}
