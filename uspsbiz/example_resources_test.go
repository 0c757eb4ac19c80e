package uspsbiz_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// exampleFake starts a fake USPS with one platform app and one business
// account holding an active EPA with a contract, and a pending-ACH EPA.
func exampleFake() (*uspsbiztest.Server, *uspsbiz.Client) {
	srv := uspsbiztest.Start(
		uspsbiztest.WithTime(time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)),
		uspsbiztest.WithApp(uspsbiztest.App{ClientID: "app", ClientSecret: "secret", Name: "Acme Ship", CRID: "9999001",
			RedirectURIs: []string{"https://platform.example/usps/callback"}}),
		uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{
			Username: "acme-shipping", Password: "pw", CRID: "56781234",
			MIDs: []string{"901234567"}, ManifestMIDs: []string{"902345678"},
			EPAs: []uspsbiztest.EPA{
				{AccountNumber: "1000000001"},
				{AccountNumber: "1000000002", State: uspsbiztest.EPAPendingACH, MicroDebits: [2]int{17, 42}},
			},
		}),
	)
	_ = srv.SetPublishedPrices(uspsbiztest.Price{MailClass: "USPS_GROUND_ADVANTAGE", SKU: "DUXP0XXXXC01050", Price: "9.35"})
	_ = srv.SetContractPrices("1000000001", uspsbiztest.Price{MailClass: "USPS_GROUND_ADVANTAGE", SKU: "DUXP0XXXXN01050", Price: "7.12"})
	srv.AddTracking(uspsbiztest.TrackedPackage{TrackingNumber: "9400100000000000000001", StatusCategory: "Delivered",
		Events: []uspsbiztest.Event{{Type: "Delivered, In/At Mailbox", Code: "01", Time: time.Date(2026, 5, 2, 12, 55, 0, 0, time.UTC), City: "FALMOUTH", State: "MA", ZIP: "02540"}}})
	c, err := uspsbiz.New(
		uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: "app", ClientSecret: "secret"}),
		uspsbiz.WithClock(srv.Now),
	)
	if err != nil {
		panic(err)
	}
	return srv, c
}

func ExampleClient_AuthorizePayment() {
	srv, c := exampleFake()
	defer srv.Close()
	ctx := context.Background()

	// A linked customer's labels: their EPS account pays and holds the
	// contract rates, their CRID and MIDs own the labels, the platform is
	// PLATFORM. The EPA still awaits its ACH micro-debit verification.
	eps, _ := usps.ParseEPSAccount("1000-0000-02")
	req := uspsbiz.PaymentRequest{Roles: []uspsbiz.Role{
		{Name: uspsbiz.RolePayer, CRID: "56781234", AccountType: uspsbiz.AccountEPS, Account: eps},
		{Name: uspsbiz.RoleRateHolder, CRID: "56781234", AccountType: uspsbiz.AccountEPS, Account: eps},
		{Name: uspsbiz.RoleLabelOwner, CRID: "56781234", MID: "901234567", ManifestMID: "902345678"},
		{Name: uspsbiz.RolePlatform, CRID: "9999001"},
	}}
	_, err := c.AuthorizePayment(ctx, req)
	var ae *uspsbiz.APIError
	fmt.Println("EPA not active yet:", errors.As(err, &ae) && ae.HasCode("100002"))

	// The customer confirms the two test debits; now USPS authorizes.
	_ = srv.VerifyMicroDebits("1000000002", 42, 17)
	pa, err := c.AuthorizePayment(ctx, req)
	if err != nil {
		panic(err)
	}
	fmt.Println("token until:", pa.Expiry.Format(time.Kitchen), "token:", pa.Token)

	// Roles USPS would refuse are caught without any call.
	_, err = c.AuthorizePayment(ctx, uspsbiz.PaymentRequest{Roles: req.Roles[:2]})
	fmt.Println(err)
	// Output:
	// EPA not active yet: true
	// token until: 5:00PM token: [REDACTED]
	// uspsbiz: payment roles: LABEL_OWNER is required (USPS 160229)
}

func ExampleClient_BaseRates() {
	srv, c := exampleFake()
	defer srv.Close()
	pkg := uspsbiz.Package{OriginZIP: "22407", DestinationZIP: "63118", Weight: 2, Length: 10, Width: 8, Height: 4}
	for _, acct := range []string{"1000000001", "1000000002"} {
		eps, _ := usps.ParseEPSAccount(acct)
		res, err := c.BaseRates(context.Background(), uspsbiz.BaseRatesQuery{Package: pkg, MailClass: "USPS_GROUND_ADVANTAGE", EPS: eps})
		if err != nil {
			panic(err)
		}
		r := res.Options[0].Rates[0]
		fmt.Printf("%v: $%s %s contract=%v contractRateNotFound=%v\n", eps, r.Price, r.PriceType, r.PriceType.IsContract(), res.ContractRateNotFound)
		if err := res.RequireContract(); errors.Is(err, uspsbiz.ErrContractRateNotFound) {
			fmt.Println("  not an NSA price:", err)
		}
	}
	// Output:
	// ******0001: $7.12 CONTRACT contract=true contractRateNotFound=false
	// ******0002: $9.35 COMMERCIAL contract=false contractRateNotFound=true
	//   not an NSA price: uspsbiz: contract rate not found; published rate returned
}

func ExampleClient_TrackPackage() {
	srv, c := exampleFake()
	defer srv.Close()
	t, err := c.TrackPackage(context.Background(), "9400 1000 0000 0000 0000 01", uspsbiz.TrackingOptions{Detail: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(t.TrackingNumber, t.StatusCategory, t.Events[0].EventType, t.Events[0].EventCity)
	// Output:
	// 9400100000000000000001 Delivered Delivered, In/At Mailbox FALMOUTH
}
