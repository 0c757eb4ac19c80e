package main

import (
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
)

// uspsFlags are the USPS client settings: flags with environment
// fallbacks, except the client secret, which comes from the environment
// only so that it never shows in ps.
type uspsFlags struct {
	environment  *string
	clientID     *string
	platformCRID *string
	probe        *string
	payer        *string
	platformEPS  *string
	returns      *string
}

func declareUSPS(fs *flag.FlagSet) uspsFlags {
	return uspsFlags{
		environment:  fs.String("usps-env", "", "USPS host: production, testing (TEM) or a base URL (default $NSALINK_USPS_ENV, else the link's own environment)"),
		clientID:     fs.String("client-id", "", "the platform app's USPS Consumer Key (default $NSALINK_USPS_CLIENT_ID); the Consumer Secret is read from $NSALINK_USPS_CLIENT_SECRET only"),
		platformCRID: fs.String("platform-crid", "", "the platform's CRID, for the PLATFORM payment role (default $NSALINK_PLATFORM_CRID)"),
		payer:        fs.String("payer", "", "who pays postage, as the hosts configure it (linking.WithPaymentModel): customer or platform (default $NSALINK_PAYER, else customer); checking a link under another model than the hosts' gives another verdict"),
		platformEPS:  fs.String("platform-eps", "", "with -payer platform: the platform's own EPS account number (default $NSALINK_PLATFORM_EPS)"),
		returns:      fs.String("returns", "", "true when the hosts authorize return labels (default $NSALINK_RETURNS, else false)"),
		probe:        fs.String("probe", "", "the contract-price probe, as the hosts configure it (linking.WithContractProbe): MAIL_CLASS,FROM_ZIP,TO_ZIP,WEIGHT[,LxWxH inches], e.g. PRIORITY_MAIL,10001,94105,1lb,10x8x4 (default $NSALINK_CONTRACT_PROBE, else linking's default)"),
	}
}

// parseProbe reads MAIL_CLASS,FROM_ZIP,TO_ZIP,WEIGHT[,LxWxH].
func parseProbe(v string) (linking.ContractProbe, error) {
	bad := func(why string) (linking.ContractProbe, error) {
		return linking.ContractProbe{}, usagef("-probe %s: %s; want MAIL_CLASS,FROM_ZIP,TO_ZIP,WEIGHT[,LxWxH], e.g. PRIORITY_MAIL,10001,94105,1lb,10x8x4", strconv.Quote(v), why)
	}
	parts := strings.Split(v, ",")
	if len(parts) != 4 && len(parts) != 5 {
		return bad("want 4 or 5 fields")
	}
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	p := linking.ContractProbe{MailClass: parts[0], OriginZIP: parts[1], DestinationZIP: parts[2]}
	if p.MailClass == "" {
		return bad("no mail class")
	}
	for _, zip := range []string{p.OriginZIP, p.DestinationZIP} {
		if len(zip) != 5 || strings.Trim(zip, "0123456789") != "" {
			return bad("ZIP Codes are 5 digits")
		}
	}
	w, err := usps.ParseWeight(parts[3])
	if err != nil || w <= 0 {
		return bad("weight as 12oz or 1.5lb")
	}
	p.Weight = w
	if len(parts) == 5 {
		dims := strings.Split(parts[4], "x")
		if len(dims) != 3 {
			return bad("dimensions as LxWxH inches")
		}
		var d [3]usps.Dimension
		for i, s := range dims {
			if d[i], err = usps.ParseDimension(s); err != nil || d[i] <= 0 {
				return bad("dimensions as LxWxH inches")
			}
		}
		p.Length, p.Width, p.Height = d[0], d[1], d[2]
	}
	return p, nil
}

func declareBudgets(fs *flag.FlagSet) *string {
	return fs.String("budget", "", "client-side USPS call budgets, API=calls per hour, comma-separated, e.g. payments=60,prices=60 (default $NSALINK_USPS_BUDGETS)")
}

// orEnv returns v, or the variable's value when v is empty.
func (e *env) orEnv(v, name string) string {
	if v != "" {
		return v
	}
	return e.getenv(name)
}

// parseEnvironment reads production, testing or a base URL.
func parseEnvironment(v string) (uspsbiz.Environment, error) {
	switch v {
	case "production":
		return uspsbiz.Production, nil
	case "testing", "tem":
		return uspsbiz.Testing, nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", usagef("-usps-env %s: want production, testing or an http(s) base URL", strconv.Quote(v))
	}
	return uspsbiz.Environment(strings.TrimSuffix(v, "/")), nil
}

// parseBudgets reads "payments=60,prices=60".
func parseBudgets(v string) (map[uspsbiz.API]int, error) {
	out := map[uspsbiz.API]int{}
	if v == "" {
		return out, nil
	}
	known := []uspsbiz.API{uspsbiz.APIOAuth, uspsbiz.APIPayments, uspsbiz.APIPrices, uspsbiz.APITracking}
	for item := range strings.SplitSeq(v, ",") {
		name, n, ok := strings.Cut(strings.TrimSpace(item), "=")
		api := uspsbiz.API(name)
		per, err := strconv.Atoi(n)
		if !ok || err != nil || per <= 0 {
			return nil, usagef("-budget %s: want API=calls per hour, e.g. payments=60", strconv.Quote(item))
		}
		if !containsAPI(known, api) {
			return nil, usagef("-budget: unknown API %s; want oauth2, payments, prices or tracking", strconv.Quote(name))
		}
		if _, dup := out[api]; dup {
			return nil, usagef("-budget: %s given twice", name)
		}
		out[api] = per
	}
	return out, nil
}

func containsAPI(list []uspsbiz.API, a uspsbiz.API) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

func budgetOptions(b map[uspsbiz.API]int) []uspsbiz.Option {
	var opts []uspsbiz.Option
	for api, per := range b {
		opts = append(opts, uspsbiz.WithBudget(api, uspsbiz.Budget{PerHour: per}))
	}
	return opts
}

// linkerFor builds a Linker that can re-check link l: a USPS client for the
// environment l's tokens were issued for, with the platform's credentials,
// and the sealer of $NSALINK_SEAL_KEYS.
func (e *env) linkerFor(f uspsFlags, s linking.Store, l *linking.Link) (*linking.Linker, error) {
	id := e.orEnv(*f.clientID, "NSALINK_USPS_CLIENT_ID")
	if id == "" {
		return nil, usagef("no USPS client id: pass -client-id or set NSALINK_USPS_CLIENT_ID")
	}
	secret := e.getenv("NSALINK_USPS_CLIENT_SECRET")
	if secret == "" {
		return nil, usagef("no USPS client secret: set NSALINK_USPS_CLIENT_SECRET (read from the environment only)")
	}
	crid := e.orEnv(*f.platformCRID, "NSALINK_PLATFORM_CRID")
	if crid == "" {
		return nil, usagef("no platform CRID: pass -platform-crid or set NSALINK_PLATFORM_CRID")
	}
	if _, err := usps.ParseCRID(crid); err != nil {
		return nil, usagef("-platform-crid: %v", err)
	}
	sealer, _, err := e.sealer()
	if err != nil {
		return nil, err
	}
	// A link's tokens work only at the USPS host that issued them; checking
	// it against another would fail the refresh with invalid_grant and mark
	// a healthy link "relink required".
	envName := e.orEnv(*f.environment, "NSALINK_USPS_ENV")
	target := l.Environment
	if envName != "" {
		want, err := parseEnvironment(envName)
		if err != nil {
			return nil, err
		}
		if target != "" && want != target {
			return nil, fmt.Errorf("link %s holds tokens for %s, not %s: nothing changed", quoteID(l.AccountID), clean(string(target)), want)
		}
		target = want
	}
	if target == "" {
		return nil, usagef("the link records no USPS environment: pass -usps-env or set NSALINK_USPS_ENV")
	}
	client, err := uspsbiz.New(
		uspsbiz.WithEnvironment(target),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: id, ClientSecret: uspsbiz.Secret(secret)}),
		uspsbiz.WithUserAgent("nsalink-cli"))
	if err != nil {
		return nil, usagef("USPS client: %v", err)
	}
	lopts := []linking.Option{
		// Verify never builds a COP URL, so the registered redirect URI is
		// not needed; New requires one.
		linking.WithRedirectURI("https://nsalink-cli.invalid/unused"),
		linking.WithPlatform("nsalink CLI", crid),
	}
	pay := linking.PaymentModel{Payer: linking.Payer(e.orEnv(*f.payer, "NSALINK_PAYER")), PlatformEPS: e.orEnv(*f.platformEPS, "NSALINK_PLATFORM_EPS")}
	if v := e.orEnv(*f.returns, "NSALINK_RETURNS"); v != "" {
		if pay.Returns, err = strconv.ParseBool(v); err != nil {
			return nil, usagef("payment model: -returns %s: want true or false", strconv.Quote(v))
		}
	}
	if err := linking.WithPaymentModel(pay)(&linking.Linker{}); err != nil {
		return nil, usagef("payment model: %v", err)
	}
	lopts = append(lopts, linking.WithPaymentModel(pay))
	if v := e.orEnv(*f.probe, "NSALINK_CONTRACT_PROBE"); v != "" {
		p, err := parseProbe(v)
		if err != nil {
			return nil, err
		}
		lopts = append(lopts, linking.WithContractProbe(p))
	}
	return linking.New(client, s, sealer, lopts...)
}

func quotaCommand() command {
	return command{
		name: "quota", args: "", summary: "the USPS call budget as this process sees it",
		detail: `
Shows, per USPS API, how many calls the client-side budget of -budget allows
right now (uspsbiz.Client.Remaining). Each process keeps its own budget, so a
fresh CLI process shows a full one: this is not the fleet's view. A fleet-wide
view of the quota comes with the shared budget (a budget the instances keep
in the database), which this nsalink does not have yet.

With -db (or $NSALINK_DB) it also counts the re-checks due now, the demand on
that budget: each re-check costs two or three USPS calls.`,
		setup: func(e *env, fs *flag.FlagSet) func([]string) error {
			db := fs.String("db", "", "optional: the links database, to count the re-checks due now (default $NSALINK_DB)")
			budgetFlag := declareBudgets(fs)
			return func([]string) error {
				budgets, err := parseBudgets(e.orEnv(*budgetFlag, "NSALINK_USPS_BUDGETS"))
				if err != nil {
					return err
				}
				client, err := uspsbiz.New(budgetOptions(budgets)...)
				if err != nil {
					return usagef("USPS client: %v", err)
				}
				w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "API\tREMAINING\tPER HOUR")
				apis := []uspsbiz.API{uspsbiz.APIOAuth, uspsbiz.APIPayments, uspsbiz.APIPrices, uspsbiz.APITracking}
				for _, api := range apis {
					if n, ok := client.Remaining(api); ok {
						fmt.Fprintf(w, "%s\t%d\t%d\n", api, n, budgets[api])
					} else {
						fmt.Fprintf(w, "%s\tno budget\t-\n", api)
					}
				}
				if err := w.Flush(); err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, "\nThis is this process's budget, not the fleet's: every instance keeps its own.")
				fmt.Fprintln(e.stdout, "A fleet-wide quota view comes with the shared budget (not in this nsalink yet).")
				if *db == "" && e.getenv("NSALINK_DB") == "" {
					return nil
				}
				s, err := e.store(*db)
				if err != nil {
					return err
				}
				defer s.Close()
				now := e.now()
				var pending, action int
				err = eachLink(e.ctx, s, func(l *linking.Link) error {
					switch {
					case l.State == linking.StateApprovalPending && !l.NextCheckAt.After(now):
						pending++
					case l.State == linking.StateActionRequired && !l.NextCheckAt.IsZero() && !l.NextCheckAt.After(now):
						action++
					}
					return nil
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "\nre-checks due now: %d (approval_pending %d, action_required %d)", pending+action, pending, action)
				if n := pending + action; n > 0 {
					fmt.Fprintf(e.stdout, ", about %d to %d USPS calls", 2*n, 3*n)
				}
				fmt.Fprintln(e.stdout)
				return nil
			}
		},
	}
}
