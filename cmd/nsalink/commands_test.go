package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/internal/seal"
	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// row matches a table row whose cells are the given words, in order,
// separated by the tabwriter's spaces.
func row(cells ...string) *regexp.Regexp {
	for i, c := range cells {
		cells[i] = regexp.QuoteMeta(c)
	}
	return regexp.MustCompile(`(?m)^` + strings.Join(cells, `\s+`) + `\s*$`)
}

func TestLinks(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		code, out, errOut := f.run(nil, "links")
		require.Equal(t, 0, code, errOut)
		for _, acct := range []string{acctActive, acctACH, acctNoMethod, acctPending, acctAwaiting, acctAuthorizing} {
			require.Contains(t, out, acct)
		}
		require.Regexp(t, `(?m)^acct-ach\s+action_required\s+epa_not_active\s+56781234\s+901234567\s+…0002\s`, out)
		require.Regexp(t, `(?m)^acct-awaiting\s+awaiting_credentials\s+-\s+-\s+-\s+-\s`, out)
		require.Regexp(t, `(?m)^acct-pending\s+approval_pending\s+contract_not_effective\s.*contract probe: 001`, out)
		// Counts over all links, in flow order.
		require.Contains(t, out, "links by state and reason (all 6):")
		require.Regexp(t, row("authorizing", "-", "1"), out)
		require.Regexp(t, row("awaiting_credentials", "-", "1"), out)
		require.Regexp(t, row("approval_pending", "contract_not_effective", "1"), out)
		require.Regexp(t, row("active", "-", "1"), out)
		require.Regexp(t, row("action_required", "epa_not_active", "1"), out)
		require.Regexp(t, row("action_required", "no_payment_method", "1"), out)
		require.Less(t, strings.Index(out, "\nauthorizing"), strings.Index(out, "\naction_required"))

		code, out, _ = f.run(nil, "links", "-state", "action_required")
		require.Equal(t, 0, code)
		require.Contains(t, out, acctACH)
		require.Contains(t, out, acctNoMethod)
		require.NotRegexp(t, `(?m)^acct-active\s`, out)
		require.Contains(t, out, "2 of 6 links listed")
		require.Contains(t, out, "links by state and reason (all 6):", "counts stay fleet-wide")

		code, out, _ = f.run(nil, "links", "-reason", "no_payment_method")
		require.Equal(t, 0, code)
		require.Contains(t, out, "1 of 6 links listed")
		require.Regexp(t, `(?m)^acct-nomethod\s`, out)

		code, out, _ = f.run(nil, "links", "-reason", "none", "-state", "active")
		require.Equal(t, 0, code)
		require.Contains(t, out, "1 of 6 links listed")
		require.Regexp(t, `(?m)^acct-active\s+active\s`, out)

		// -since: the links that entered their state within the window,
		// by their audit trail.
		code, out, _ = f.run(nil, "links", "-state", "action_required", "-since", "1h")
		require.Equal(t, 0, code)
		require.Contains(t, out, "2 of 6 links listed")
		later := func() time.Time { return time.Now().Add(2 * time.Hour) }
		code, out, _ = f.runAt(later, nil, "links", "-state", "action_required", "-since", "1h")
		require.Equal(t, 0, code)
		require.Contains(t, out, "0 of 6 links listed")
		require.NotRegexp(t, `(?m)^acct-ach\s`, out)
		code, out, _ = f.runAt(later, nil, "links", "-since", "3h")
		require.Equal(t, 0, code)
		require.Contains(t, out, "6 of 6 links listed")
		code, _, errOut = f.run(nil, "links", "-since", "-1h")
		require.Equal(t, 2, code)
		require.Contains(t, errOut, "-since")

		// JSON: the listed links, redacted, and the fleet-wide counts.
		code, out, _ = f.run(nil, "links", "-format", "json", "-state", "action_required")
		require.Equal(t, 0, code)
		var lj linksJSON
		require.NoError(t, json.Unmarshal([]byte(out), &lj))
		require.Equal(t, 2, lj.Listed)
		require.Equal(t, 6, lj.Total)
		require.Len(t, lj.Links, 2)
		ach := lj.Links[0]
		require.Equal(t, linkJSON{AccountID: acctACH, State: "action_required", Reason: "epa_not_active",
			Environment: f.srv.URL, CRID: custCRID, MID: custMID, ManifestMID: custMID, EPSLast4: "0002",
			HasToken: true, UpdatedAt: ach.UpdatedAt, NextCheckAt: ach.NextCheckAt, CheckAttempts: 1,
			LastError: "credentials check: EPA code 100002"}, ach)
		require.NotEmpty(t, ach.NextCheckAt)
		require.Contains(t, lj.Counts, countJSON{State: "approval_pending", Reason: "contract_not_effective", Links: 1})
		require.Contains(t, lj.Counts, countJSON{State: "active", Reason: "", Links: 1})
		require.Len(t, lj.Counts, 6)
		code, _, _ = f.run(nil, "links", "-format", "yaml")
		require.Equal(t, 2, code)

		// Bad filters are usage errors naming the flag, before any query.
		code, _, errOut = f.run(nil, "links", "-state", "frozen")
		require.Equal(t, 2, code)
		require.Contains(t, errOut, `-state "frozen": not a state`)
		code, _, errOut = f.run(nil, "links", "-reason", "bad_luck")
		require.Equal(t, 2, code)
		require.Contains(t, errOut, `-reason "bad_luck"`)
		code, _, errOut = f.run(map[string]string{"NSALINK_DB": ""}, "links")
		require.Equal(t, 2, code)
		require.Contains(t, errOut, "no database")

		// -db on the command line works too, and wins over the variable.
		code, out, _ = f.run(map[string]string{"NSALINK_DB": "sqlite:/nonexistent/links.db"}, "links", "-db", f.dsn)
		require.Equal(t, 0, code)
		require.Contains(t, out, "(all 6)")
	})
}

func TestLink(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		code, out, errOut := f.run(nil, "link", acctACH)
		require.Equal(t, 0, code, errOut)
		require.Regexp(t, row("state", "action_required"), out)
		require.Regexp(t, row("reason", "epa_not_active"), out)
		require.Regexp(t, row("eps", "…0002"), out)
		// The EPS is sealed at rest: without the keys it stays sealed.
		code, out, errOut = f.run(map[string]string{"NSALINK_SEAL_KEYS": ""}, "link", acctACH)
		require.Equal(t, 0, code, errOut)
		require.Regexp(t, row("eps", "sealed (set NSALINK_SEAL_KEYS to see its last 4 digits)"), out)
		code, out, errOut = f.run(nil, "link", acctACH)
		require.Equal(t, 0, code, errOut)
		require.Regexp(t, row("token", "sealed, key k1"), out)
		require.Regexp(t, row("payment token", "none"), out)
		require.Regexp(t, row("environment", f.srv.URL), out)
		require.Regexp(t, `(?m)^last error\s+credentials check: EPA code 100002$`, out)

		evs, err := f.store.Events(t.Context(), acctACH)
		require.NoError(t, err)
		require.NotEmpty(t, evs)
		require.Contains(t, out, "audit trail ("+strconv.Itoa(len(evs))+" events):")
		for _, ev := range evs {
			require.Regexp(t, `(?m)^`+strconv.Itoa(int(ev.Seq))+`\s+\S+\s+\S+\s+`+string(ev.To)+`\s`, out)
		}

		// The active link shows its cached payment token's key, not the token.
		code, out, _ = f.run(nil, "link", acctActive)
		require.Equal(t, 0, code)
		require.Regexp(t, row("payment token", "sealed, key k1"), out)

		// Flags after the argument; an unknown account; no argument.
		code, _, _ = f.run(map[string]string{"NSALINK_DB": ""}, "link", acctActive, "-db", f.dsn)
		require.Equal(t, 0, code)
		code, _, errOut = f.run(nil, "link", "acct-nobody")
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "no link for account acct-nobody")
		code, _, errOut = f.run(nil, "link")
		require.Equal(t, 2, code)
		require.Contains(t, errOut, "want 1 argument(s)")
	})
}

func TestEvents(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		want, err := f.store.Events(t.Context(), acctActive)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(want), 3, "authorizing, awaiting credentials, pending, active")

		code, out, errOut := f.run(nil, "events", acctActive)
		require.Equal(t, 0, code, errOut)
		var got []eventJSON
		require.NoError(t, json.Unmarshal([]byte(out), &got))
		require.Len(t, got, len(want))
		for i, ev := range want {
			require.Equal(t, eventJSON{AccountID: acctActive, Seq: ev.Seq, At: ev.At.UTC().Format(time.RFC3339Nano),
				From: string(ev.From), To: string(ev.To), Reason: string(ev.Reason), Cause: ev.Cause, Actor: ev.Actor}, got[i])
		}
		require.Equal(t, "active", got[len(got)-1].To)

		code, out, _ = f.run(nil, "events", "-format", "csv", acctActive)
		require.Equal(t, 0, code)
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		require.NoError(t, err)
		require.Equal(t, []string{"account_id", "seq", "at", "from", "to", "reason", "cause", "actor"}, recs[0])
		require.Len(t, recs, len(want)+1)
		for i, ev := range want {
			require.Equal(t, []string{acctActive, strconv.Itoa(int(ev.Seq)), ev.At.UTC().Format(time.RFC3339Nano),
				string(ev.From), string(ev.To), string(ev.Reason), ev.Cause, ev.Actor}, recs[i+1])
		}

		// An account with no link has no trail; a bad format is usage.
		code, _, errOut = f.run(nil, "events", "acct-nobody")
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "no link for account")
		code, _, errOut = f.run(nil, "events", "-format", "xml", acctActive)
		require.Equal(t, 2, code)
		require.Contains(t, errOut, `-format "xml"`)
	})
}

func TestCSVCellDefusesFormulas(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, writeEventsCSV(&b, []linking.Event{{AccountID: "=cmd|' /C calc'!A0", Seq: 1, To: linking.StateActive,
		Cause: "+1", Actor: "@me"}}))
	recs, err := csv.NewReader(&b).ReadAll()
	require.NoError(t, err)
	require.Equal(t, "'=cmd|' /C calc'!A0", recs[1][0])
	require.Equal(t, "'+1", recs[1][6])
	require.Equal(t, "'@me", recs[1][7])
}

func TestRecheck(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		// The customer confirms the ACH micro-debits at USPS; the operator
		// re-checks at once instead of waiting for the backoff. With a probe
		// for a product the customer has no contract price for, the link
		// moves on to pending only.
		require.NoError(t, f.srv.VerifyMicroDebits(epsACH, 17, 42))
		require.NoError(t, f.srv.SetPublishedPrices(
			uspsbiztest.Price{MailClass: "PRIORITY_MAIL", SKU: "DPXX0XXXXC00010", Price: "11.50"},
			uspsbiztest.Price{MailClass: "USPS_GROUND_ADVANTAGE", SKU: "DUXP0XXXXC00010", Price: "7.10"}))
		code, out, errOut := f.run(map[string]string{"NSALINK_CONTRACT_PROBE": "USPS_GROUND_ADVANTAGE,10001,94105,12oz,6x4x2"}, "recheck", acctACH)
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "acct-ach: action_required (epa_not_active) -> approval_pending (contract_not_effective)")
		probes := 0
		for _, r := range f.srv.Requests() {
			if r.Path == "/prices/v3/base-rates/search" && strings.Contains(string(r.Body), "USPS_GROUND_ADVANTAGE") {
				probes++
			}
		}
		require.Equal(t, 1, probes, "the probe of NSALINK_CONTRACT_PROBE was asked")
		for _, bad := range []string{"PRIORITY_MAIL", "PRIORITY_MAIL,1000,94105,1lb", "PRIORITY_MAIL,10001,94105,heavy", "PRIORITY_MAIL,10001,94105,1lb,10x8"} {
			code, _, errOut = f.run(nil, "recheck", acctACH, "-probe", bad)
			require.Equal(t, 2, code, bad)
			require.Contains(t, errOut, "-probe")
		}
		code, out, errOut = f.run(nil, "recheck", acctACH)
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "acct-ach: approval_pending (contract_not_effective) -> active")
		require.Equal(t, linking.StateActive, f.get(acctACH).State)
		evs, err := f.store.Events(t.Context(), acctACH)
		require.NoError(t, err)
		last := evs[len(evs)-1]
		require.Equal(t, linking.StateActive, last.To)
		require.Equal(t, "verifier", last.Actor)

		// USPS fails the payment authorization: exit 1, the link stays
		// pending for the reconciler, the error says why.
		f.srv.InjectFault(uspsbiztest.Fault{Match: "POST /payments/v3/payment-authorization", Kind: uspsbiztest.FaultStatus, Status: 503})
		code, out, errOut = f.run(nil, "recheck", acctPending)
		require.Equal(t, 1, code)
		require.Contains(t, out, "acct-pending: approval_pending (contract_not_effective) -> approval_pending")
		require.Contains(t, out, "last error: credentials check: USPS 503")
		require.Contains(t, errOut, "re-check of acct-pending did not finish")
		require.Equal(t, linking.StateApprovalPending, f.get(acctPending).State)
		f.srv.ClearFaults()

		// Links with nothing to re-check are left alone, without a USPS call.
		calls := len(f.srv.Requests())
		for _, acct := range []string{acctActive, acctAwaiting} {
			before := f.get(acct)
			code, _, errOut = f.run(nil, "recheck", acct)
			require.Equal(t, 1, code)
			require.Contains(t, errOut, "nothing changed")
			require.Equal(t, before.Version, f.get(acct).Version)
		}

		// A link is only checked at the USPS host its tokens are for.
		before := f.get(acctNoMethod)
		code, _, errOut = f.run(map[string]string{"NSALINK_USPS_ENV": "production"}, "recheck", acctNoMethod)
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "holds tokens for "+f.srv.URL+", not https://apis.usps.com")
		require.Equal(t, before.Version, f.get(acctNoMethod).Version)
		require.Equal(t, calls, len(f.srv.Requests()), "no USPS call for a refused re-check")

		// Missing configuration is a usage error naming what is missing.
		for v, msg := range map[string]string{
			"NSALINK_USPS_CLIENT_SECRET": "NSALINK_USPS_CLIENT_SECRET",
			"NSALINK_USPS_CLIENT_ID":     "-client-id",
			"NSALINK_PLATFORM_CRID":      "-platform-crid",
			"NSALINK_SEAL_KEYS":          "NSALINK_SEAL_KEYS",
		} {
			code, _, errOut = f.run(map[string]string{v: ""}, "recheck", acctNoMethod)
			require.Equal(t, 2, code, v)
			require.Contains(t, errOut, msg)
		}
		// The explicit environment, when it agrees with the link's, works.
		code, out, errOut = f.run(nil, "recheck", acctNoMethod, "-usps-env", f.srv.URL)
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "acct-nomethod: action_required (no_payment_method) -> action_required (no_payment_method)")
		require.Contains(t, out, "next check: ")

		// The hosts' payment model: when the platform pays, the unfunded
		// EPA is a fine rate card and the link activates.
		for _, bad := range [][]string{{"-payer", "nobody"}, {"-payer", "platform"}, {"-payer", "platform", "-platform-eps", epsPlatform, "-returns", "maybe"}} {
			code, _, errOut = f.run(nil, append([]string{"recheck", acctNoMethod}, bad...)...)
			require.Equal(t, 2, code, bad)
			require.Contains(t, errOut, "payment model", bad)
		}
		code, out, errOut = f.run(map[string]string{"NSALINK_PAYER": "platform", "NSALINK_PLATFORM_EPS": epsPlatform}, "recheck", acctNoMethod)
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "acct-nomethod: action_required (no_payment_method) -> active")
		auths := f.srv.PaymentAuthorizations()
		payer, _ := auths[len(auths)-1].Role("PAYER")
		require.Equal(t, epsPlatform, payer.AccountNumber)
	})
}

func TestRotateKey(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		k2 := make([]byte, 32)
		_, _ = rand.Read(k2)
		k2b64 := base64.RawURLEncoding.EncodeToString(k2) // any base64 flavour
		f.secrets = append(f.secrets, k2b64)
		both := map[string]string{"NSALINK_SEAL_KEYS": "k1:" + f.k1 + ",k2:" + k2b64, "NSALINK_SEAL_PRIMARY": "k2"}

		// Links with sealed tokens: all but the one still authorizing.
		withTokens := 0
		require.NoError(t, eachLink(ctx, f.store, func(l *linking.Link) error {
			if len(l.Token) > 0 || len(l.PaymentToken) > 0 {
				withTokens++
			}
			return nil
		}))
		require.Equal(t, 5, withTokens)

		code, out, _ := f.run(both, "rotate-key", "-check")
		require.Equal(t, 1, code, "values are still under k1")
		require.Regexp(t, row("k1", "6"), out, "5 tokens and the active link's payment token")
		require.NotContains(t, out, "rewrapped")

		code, out, errOut := f.run(both, "rotate-key")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "rewrapped 5 links under key k2")
		require.Contains(t, out, "links: 6, with sealed tokens: 5")
		require.Regexp(t, row("k2 (primary)", "6"), out)
		require.NotRegexp(t, `(?m)^k1\s`, out)
		require.NoError(t, eachLink(ctx, f.store, func(l *linking.Link) error {
			for _, b := range [][]byte{l.Token, l.PaymentToken} {
				if len(b) > 0 {
					id, err := seal.KeyID(b)
					require.NoError(t, err)
					require.Equal(t, "k2", id, l.AccountID)
				}
			}
			return nil
		}))

		// The old key can go: a Linker holding k2 only still opens the
		// customer token and the cached payment token.
		onlyK2, err := linking.NewAESGCMSealer("k2", map[string][]byte{"k2": k2})
		require.NoError(t, err)
		l2 := f.newLinker(onlyK2)
		calls := len(f.srv.Requests())
		tok, err := l2.TokenSource(ctx, acctActive).Token()
		require.NoError(t, err)
		require.True(t, tok.Valid())
		_, _, err = l2.PaymentToken(ctx, acctActive)
		require.NoError(t, err)
		require.Equal(t, calls, len(f.srv.Requests()), "both opened from the store, without USPS")

		code, out, _ = f.run(both, "rotate-key", "-check")
		require.Equal(t, 0, code)
		require.Contains(t, out, "every sealed token is under k2")
		code, out, _ = f.run(both, "rotate-key")
		require.Equal(t, 0, code)
		require.Contains(t, out, "rewrapped 0 links")

		// A tampered value stops the rotation, naming the link and the
		// field, and what was rewrapped before it stays rewrapped.
		bad := f.get(acctAwaiting)
		bad.Token[len(bad.Token)-1] ^= 1
		_, err = f.store.UpdateLink(ctx, bad, nil)
		require.NoError(t, err)
		code, out, errOut = f.run(map[string]string{"NSALINK_SEAL_KEYS": "k2:" + k2b64, "NSALINK_SEAL_PRIMARY": ""}, "rotate-key")
		require.Equal(t, 1, code)
		require.Contains(t, out, "rewrapped 0 links")
		require.Contains(t, errOut, `rotation stopped: linking: rewrap link "acct-awaiting": token: seal: integrity check failed`)

		// Values under a key the CLI was not given stop the rotation.
		k3 := base64.StdEncoding.EncodeToString(make([]byte, 32))
		code, _, errOut = f.run(map[string]string{"NSALINK_SEAL_KEYS": "k3:" + k3, "NSALINK_SEAL_PRIMARY": ""}, "rotate-key")
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "rotation stopped")
		require.Contains(t, errOut, "unknown key id")

		// Bad key configuration: usage errors naming the key id, never the material.
		short := base64.StdEncoding.EncodeToString([]byte("canary-short-key"))
		f.secrets = append(f.secrets, short)
		for keys, msg := range map[string]string{
			"":                            "no sealing keys",
			"k1":                          "item 1: want id:BASE64",
			"k1:%%%canary-not-base64":     "key k1 is not base64",
			"k1:" + short:                 "key k1 is 16 bytes, want 32",
			"bad id!:" + f.k1:             "item 1: key id must be",
			"k1:" + f.k1 + ",k1:" + f.k1:  "key k1 given twice",
			"k1:" + f.k1 + ",k2:" + k2b64: "NSALINK_SEAL_PRIMARY is required",
		} {
			code, _, errOut = f.run(map[string]string{"NSALINK_SEAL_KEYS": keys, "NSALINK_SEAL_PRIMARY": ""}, "rotate-key")
			require.Equal(t, 2, code, keys)
			require.Contains(t, errOut, msg)
			require.NotContains(t, errOut, "canary")
		}
		code, _, errOut = f.run(map[string]string{"NSALINK_SEAL_KEYS": "k1:" + f.k1, "NSALINK_SEAL_PRIMARY": "k9"}, "rotate-key")
		require.Equal(t, 2, code)
		require.Contains(t, errOut, `NSALINK_SEAL_PRIMARY "k9" is not among the keys`)
	})
}

func TestQuota(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		// Without a database, the budgets only.
		code, out, errOut := f.run(map[string]string{"NSALINK_DB": ""}, "quota", "-budget", "payments=60,prices=30")
		require.Equal(t, 0, code, errOut)
		require.Regexp(t, row("payments", "60", "60"), out)
		require.Regexp(t, row("prices", "30", "30"), out)
		require.Regexp(t, row("tracking", "no budget", "-"), out)
		require.Contains(t, out, "A fleet-wide quota view comes with the shared budget")
		require.NotContains(t, out, "re-checks due")

		code, out, _ = f.run(map[string]string{"NSALINK_DB": "", "NSALINK_USPS_BUDGETS": "oauth2=10"}, "quota")
		require.Equal(t, 0, code)
		require.Regexp(t, row("oauth2", "10", "10"), out)
		require.Regexp(t, row("payments", "no budget", "-"), out)

		// With the database: the re-checks due now. Right after seeding,
		// every pending link waits for its backoff.
		code, out, _ = f.runAt(func() time.Time { return f.start }, nil, "quota")
		require.Equal(t, 0, code)
		require.Contains(t, out, "re-checks due now: 0 (approval_pending 0, action_required 0)\n")
		// Seven hours later (past the longest backoff) the pending link and
		// the two whose problem is fixed at USPS are due; the active,
		// awaiting and authorizing ones never are.
		later := func() time.Time { return time.Now().Add(7 * time.Hour) }
		code, out, _ = f.runAt(later, nil, "quota")
		require.Equal(t, 0, code)
		require.Contains(t, out, "re-checks due now: 3 (approval_pending 1, action_required 2), about 6 to 9 USPS calls")

		for _, bad := range []string{"payments", "payments=0", "payments=x", "mail=5", "prices=1,prices=2"} {
			code, _, errOut = f.run(nil, "quota", "-budget", bad)
			require.Equal(t, 2, code, bad)
			require.Contains(t, errOut, "-budget")
		}
	})
}

// runPlain runs the CLI with an empty environment.
func runPlain(t *testing.T, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, func(string) string { return "" }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpAndUsage(t *testing.T) {
	for _, c := range commands() {
		code, out, errOut := runPlain(t, c.name, "-h")
		require.Equal(t, 0, code, c.name)
		require.Empty(t, errOut)
		require.Contains(t, out, "usage: nsalink "+c.name)
		require.Contains(t, out, c.summary)
		code, out2, _ := runPlain(t, "help", c.name)
		require.Equal(t, 0, code)
		require.Equal(t, out, out2)
	}
	code, out, _ := runPlain(t, "-h")
	require.Equal(t, 0, code)
	for _, c := range commands() {
		require.Contains(t, out, c.name)
	}
	code, _, errOut := runPlain(t)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "usage: nsalink <command>")
	code, _, errOut = runPlain(t, "frobnicate")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `unknown command "frobnicate"`)
	code, _, errOut = runPlain(t, "links", "-nope")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "flag provided but not defined: -nope")
}

func TestDatabaseErrors(t *testing.T) {
	// A PostgreSQL password never shows, whatever the driver says.
	const pw = "canary-db-password-5e2"
	dsn := "postgres://operator:" + pw + "@127.0.0.1:1/links?sslmode=disable&connect_timeout=2"
	code, out, errOut := runPlain(t, "links", "-db", dsn)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "opening PostgreSQL database")
	require.Contains(t, errOut, "warning: the -db value holds a password")
	require.NotContains(t, out+errOut, pw)
	// From the environment: no warning, and still no password.
	var o, eo bytes.Buffer
	code = run(t.Context(), []string{"links"}, func(k string) string {
		if k == "NSALINK_DB" {
			return dsn
		}
		return ""
	}, &o, &eo)
	require.Equal(t, 1, code)
	require.NotContains(t, eo.String(), "warning")
	require.NotContains(t, o.String()+eo.String(), pw)

	// Neither SQLite nor PostgreSQL: usage, and the value is not echoed.
	code, _, errOut = runPlain(t, "links", "-db", "mysql://root:"+pw+"@db/links")
	require.Equal(t, 2, code)
	require.NotContains(t, errOut, pw)

	// A missing SQLite file is not created.
	missing := t.TempDir() + "/typo.db"
	code, _, errOut = runPlain(t, "links", "-db", "sqlite:"+missing)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "no SQLite database at "+missing)
	code, _, _ = runPlain(t, "links", "-db", "sqlite:")
	require.Equal(t, 2, code)

	require.Equal(t, "x [REDACTED] y", redactDSN("x "+pw+" y", "postgres://u:"+pw+"@h/d"))
	require.Equal(t, "[DSN]", redactDSN("postgres://u:p@h/d", "postgres://u:p@h/d"))
}

func TestUntrustedTextIsEscaped(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		// Account ids and free text come from the host and from USPS: an
		// escape sequence in them must not reach the operator's terminal.
		const id = "-acct \x1b[31mred"
		_, err := f.store.CreateLink(t.Context(), &linking.Link{AccountID: id, State: linking.StateApprovalPending,
			LastError: "USPS said \x1b]0;pwned\x07\nsecond line"})
		require.NoError(t, err)
		code, out, errOut := f.run(nil, "links", "-state", "approval_pending")
		require.Equal(t, 0, code, errOut)
		require.NotContains(t, out, "\x1b")
		require.NotContains(t, out, "\x07")
		require.Contains(t, out, `"-acct \x1b[31mred"`)
		require.Contains(t, out, "USPS said  ]0;pwned  second line")

		// An id that starts with "-" is passed after "--".
		code, out, errOut = f.run(nil, "link", "--", id)
		require.Equal(t, 0, code, errOut)
		require.NotContains(t, out, "\x1b")
		require.Regexp(t, row("account", `"-acct \x1b[31mred"`), out)
		code, _, _ = f.run(nil, "link", id)
		require.Equal(t, 2, code, "without --, it is a flag")
	})
}
