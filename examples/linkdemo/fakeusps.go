package main

import (
	"crypto/rand"
	"fmt"
	"sync"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/nsarates/uspsload"

	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// The platform, as registered with USPS.
const (
	platformName = "Acme Ship"
	platformCRID = "9999001" // the platform's own CRID, for the PLATFORM payment role
	appClientID  = "acme-ship-demo"
)

// The customer's USPS Business Account in the fake.
const (
	uspsUser        = "demo"
	uspsPassword    = "demo-password"
	uspsMFA         = "123456"
	demoCRID        = "56781234"
	demoMID         = "901234567"
	demoManifestMID = "901234568"

	epaActive     = "1000000001" // active, NSA contract in effect
	epaPendingACH = "1000000002" // ACH waiting for micro-debit verification; contract not yet effective
	epaNoPayment  = "1000000003" // no payment method: fine as a rate card when the platform pays
	epaWarehouse  = "1000000004" // a second location's EPA
	// The second location's MIDs and the returns MID.
	demoWarehouseMID = "901234569"
	demoReturnsMID   = "901234570"
)

// The platform's own USPS business account, which pays postage when the
// demo runs with -payer platform.
const (
	platformUser = "acme-ship-billing"
	epaPlatform  = "1000000900"
)

var demoEPAs = []string{epaActive, epaPendingACH, epaNoPayment}

// fakeUSPS is the demo's USPS: uspsbiztest's fake with one business account,
// and the NSA contracts it has approved.
type fakeUSPS struct {
	*uspsbiztest.Server
	app   uspsbiz.Credentials // the platform app's client id and secret
	rates *rateBook

	mu        sync.Mutex
	contracts map[string]bool // EPS accounts whose NSA contract is effective
}

// startFakeUSPS starts the fake with the platform app registered for
// callbackURL.
func startFakeUSPS(callbackURL string, rates *rateBook) (*fakeUSPS, error) {
	secret := rand.Text()
	app := uspsbiz.Credentials{ClientID: appClientID, ClientSecret: uspsbiz.Secret(secret)}
	srv := uspsbiztest.Start(
		uspsbiztest.WithApp(uspsbiztest.App{ClientID: app.ClientID, ClientSecret: secret,
			Name: platformName, RedirectURIs: []string{callbackURL}, CRID: platformCRID}),
		uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{
			Username: uspsUser, Password: uspsPassword, MFACode: uspsMFA,
			CRID: demoCRID, MIDs: []string{demoMID, demoWarehouseMID}, ManifestMIDs: []string{demoManifestMID},
			ReturnsMIDs: []string{demoReturnsMID},
			EPAs: []uspsbiztest.EPA{
				{AccountNumber: epaActive},
				{AccountNumber: epaWarehouse},
				{AccountNumber: epaPendingACH, State: uspsbiztest.EPAPendingACH}, // micro-debits drawn at random
				{AccountNumber: epaNoPayment, State: uspsbiztest.EPANoPaymentMethod},
			},
		}),
		uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{
			Username: platformUser, Password: rand.Text(), CRID: platformCRID,
			EPAs: []uspsbiztest.EPA{{AccountNumber: epaPlatform}},
		}))
	f := &fakeUSPS{Server: srv, app: app, rates: rates, contracts: map[string]bool{}}
	err := srv.SetPublishedPrices(fakeRows(rates.commercial)...)
	if err == nil {
		err = f.makeContractEffective(epaActive)
	}
	if err != nil {
		srv.Close()
		return nil, err
	}
	return f, nil
}

// makeContractEffective is USPS approving the NSA contract of an EPS account:
// the fake answers contract prices for it from now on. The platform learns
// them the way it would from USPS: once the link is active, its Linker
// syncs the customer's table from the prices API (glue.go).
func (f *fakeUSPS) makeContractEffective(eps string) error {
	t, err := f.rates.contract(eps)
	if err != nil {
		return err
	}
	if err := f.SetContractPrices(eps, fakeRows(t)...); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.contracts[eps] = true
	return nil
}

func (f *fakeUSPS) hasContract(eps string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.contracts[eps]
}

// fakeZonePairs gives, for each zone 01–09, an origin and destination ZIP
// that the fake's zone chart (uspsbiztest.Zone) puts in that zone. Against
// USPS, pick pairs from USPS's real zone chart.
func fakeZonePairs() map[nsarates.Zone]uspsload.ZIPPair {
	m := map[nsarates.Zone]uspsload.ZIPPair{1: {Origin: "10001", Destination: "10099"}, 2: {Origin: "10001", Destination: "11001"}}
	for z := nsarates.Zone(3); z <= 9; z++ {
		m[z] = uspsload.ZIPPair{Origin: "10001", Destination: fmt.Sprintf("%d0001", z-1)}
	}
	return m
}

// microDebits returns the two ACH test debits of a pending EPA, in cents.
func (f *fakeUSPS) microDebits(eps string) ([2]int, bool) {
	e, ok := f.EPA(eps)
	if !ok || e.State != uspsbiztest.EPAPendingACH {
		return [2]int{}, false
	}
	return e.MicroDebits, true
}

func epaStateText(s uspsbiztest.EPAState) string {
	switch s {
	case uspsbiztest.EPAActive:
		return "Active"
	case uspsbiztest.EPAPendingACH:
		return "Pending: ACH micro-debits to verify"
	case uspsbiztest.EPANoPaymentMethod:
		return "No payment method"
	}
	return "Not active"
}
