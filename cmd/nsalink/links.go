package main

import (
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/nsalink/nsalink/internal/seal"
	"github.com/nsalink/nsalink/linking"
)

func linksCommand() command {
	return command{
		name: "links", args: "", summary: "list links (redacted) and count them by state and reason",
		detail: `
Lists every link, or those in -state and with -reason, in account order, then
counts all links by state and reason: a jump in action_required/token_revoked
is the sign of a USPS-side change (say, revoked grants). EPS accounts show
their last four digits only; tokens never show.

-since 1h lists only links that entered their state (and reason) within the
last hour, by their audit trail: "links -reason token_revoked -since 1h"
answers whether many links just lost their grant at once.

It reads every link (one query per link, and one more per listed link with
-since), so on a large fleet run it off-peak.`,
		setup: func(e *env, fs *flag.FlagSet) func([]string) error {
			db := dbFlag(fs)
			state := fs.String("state", "", "list only links in this state: "+joinStates())
			reason := fs.String("reason", "", "list only links with this reason (\"none\" for none): "+joinReasons())
			since := fs.Duration("since", 0, "list only links that entered their state and reason within this long (e.g. 1h)")
			format := fs.String("format", "text", "text (tables) or json (the listed links and the counts)")
			return func([]string) error {
				st, rs, err := parseFilter(*state, *reason)
				if err != nil {
					return err
				}
				if *format != "text" && *format != "json" {
					return usagef("-format %s: want text or json", strconv.Quote(*format))
				}
				if *since < 0 {
					return usagef("-since %s: want a positive duration such as 1h", since)
				}
				if *since > 0 {
					rs.since = e.now().Add(-*since)
				}
				s, err := e.store(*db)
				if err != nil {
					return err
				}
				defer s.Close()
				return e.links(s, st, rs, *format == "json")
			}
		},
	}
}

// filter is the -reason and -since values: set is false when no reason
// filter was given, since zero when no -since was.
type filter struct {
	set    bool
	reason linking.Reason
	since  time.Time
}

func parseFilter(state, reason string) (linking.State, filter, error) {
	st := linking.State(state)
	if state != "" && !st.Valid() {
		return "", filter{}, usagef("-state %s: not a state; want one of %s", strconv.Quote(state), joinStates())
	}
	var f filter
	switch reason {
	case "":
	case "none":
		f = filter{set: true}
	default:
		r := linking.Reason(reason)
		if !r.Valid() {
			return "", filter{}, usagef("-reason %s: not a reason; want none or one of %s", strconv.Quote(reason), joinReasons())
		}
		f = filter{set: true, reason: r}
	}
	return st, f, nil
}

// The states and reasons, for help and validation. linking exports the
// constants, not a list of them.
var (
	allStates = []linking.State{linking.StateUnlinked, linking.StateAuthorizing, linking.StateAwaitingCredentials,
		linking.StateApprovalPending, linking.StateActive, linking.StateActionRequired}
	allReasons = []linking.Reason{linking.ReasonEPAMissing, linking.ReasonEPANotActive, linking.ReasonNoPaymentMethod,
		linking.ReasonPaymentMethodNotActive, linking.ReasonCardTrouble, linking.ReasonInsufficientFunds,
		linking.ReasonCRIDNotEnrolled, linking.ReasonCredentialsRejected, linking.ReasonTokenRevoked,
		linking.ReasonContractNotEffective}
)

func joinStates() string {
	var b []string
	for _, s := range allStates {
		b = append(b, string(s))
	}
	return strings.Join(b, ", ")
}

func joinReasons() string {
	var b []string
	for _, r := range allReasons {
		b = append(b, string(r))
	}
	return strings.Join(b, ", ")
}

// stateReason is a key of the counts.
type stateReason struct {
	state  linking.State
	reason linking.Reason
}

func (e *env) links(s linking.Store, state linking.State, reason filter, asJSON bool) error {
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if !asJSON {
		fmt.Fprintln(w, "ACCOUNT\tSTATE\tREASON\tCRID\tMID\tEPS\tUPDATED\tNEXT CHECK\tLAST ERROR")
	}
	counts := map[stateReason]int{}
	total := 0
	listed := []linkJSON{} // -format json only
	nListed := 0
	err := eachLink(e.ctx, s, func(l *linking.Link) error {
		if err := e.openEPS(l); err != nil {
			return err
		}
		total++
		counts[stateReason{l.State, l.Reason}]++
		if state != "" && l.State != state || reason.set && l.Reason != reason.reason {
			return nil
		}
		if !reason.since.IsZero() {
			entered, err := enteredAt(e, s, l)
			if err != nil {
				return err
			}
			if entered.Before(reason.since) {
				return nil
			}
		}
		nListed++
		if asJSON {
			listed = append(listed, exportLink(l))
			return nil
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", quoteID(l.AccountID), l.State, dash(string(l.Reason)),
			dash(clean(string(l.CRID))), dash(clean(string(l.MID))), eps(l), fmtTime(l.UpdatedAt), fmtTime(l.NextCheckAt),
			dash(clean(l.LastError)))
		if nListed%500 == 0 {
			return w.Flush() // stream a large fleet
		}
		return nil
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	keys := make([]stateReason, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b stateReason) int {
		if c := slices.Index(allStates, a.state) - slices.Index(allStates, b.state); c != 0 {
			return c
		}
		return strings.Compare(string(a.reason), string(b.reason))
	})
	if asJSON {
		out := linksJSON{Links: listed, Listed: nListed, Total: total, Counts: []countJSON{}}
		for _, k := range keys {
			out.Counts = append(out.Counts, countJSON{State: string(k.state), Reason: string(k.reason), Links: counts[k]})
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if state != "" || reason.set || !reason.since.IsZero() {
		fmt.Fprintf(e.stdout, "\n%d of %d links listed\n", nListed, total)
	}
	fmt.Fprintf(e.stdout, "\nlinks by state and reason (all %d):\n", total)
	w = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "STATE\tREASON\tLINKS")
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%s\t%d\n", k.state, dash(string(k.reason)), counts[k])
	}
	return w.Flush()
}

// linksJSON is the output of links -format json; its field names are a
// contract for scripts and monitoring.
type linksJSON struct {
	Links  []linkJSON  `json:"links"`
	Listed int         `json:"listed"`
	Total  int         `json:"total"`
	Counts []countJSON `json:"counts"` // over all links, whatever the filters
}

type countJSON struct {
	State  string `json:"state"`
	Reason string `json:"reason"`
	Links  int    `json:"links"`
}

// linkJSON is a link, redacted: the EPS account's last four digits, and
// only whether tokens are on file.
type linkJSON struct {
	AccountID       string   `json:"account_id"`
	State           string   `json:"state"`
	Reason          string   `json:"reason"`
	Environment     string   `json:"environment"`
	CRID            string   `json:"crid"`
	MID             string   `json:"mid"`
	ManifestMID     string   `json:"manifest_mid"`
	EPSLast4        string   `json:"eps_last4"`
	ReturnsMID      string   `json:"returns_mid,omitempty"`
	NSAContract     string   `json:"nsa_contract,omitempty"`
	Locations       []string `json:"locations,omitempty"` // labels
	HasToken        bool     `json:"has_token"`
	HasPaymentToken bool     `json:"has_payment_token"`
	UpdatedAt       string   `json:"updated_at"`
	NextCheckAt     string   `json:"next_check_at,omitempty"`
	CheckAttempts   int      `json:"check_attempts"`
	LastError       string   `json:"last_error"`
}

func exportLink(l *linking.Link) linkJSON {
	j := linkJSON{AccountID: l.AccountID, State: string(l.State), Reason: string(l.Reason),
		Environment: string(l.Environment), CRID: string(l.CRID), MID: string(l.MID), ManifestMID: string(l.ManifestMID),
		HasToken: len(l.Token) > 0, HasPaymentToken: len(l.PaymentToken) > 0,
		UpdatedAt: l.UpdatedAt.UTC().Format(time.RFC3339Nano), CheckAttempts: l.CheckAttempts, LastError: l.LastError,
		ReturnsMID: string(l.ReturnsMID), NSAContract: l.NSAContract}
	for _, loc := range l.Locations {
		j.Locations = append(j.Locations, loc.Label)
	}
	if l.EPSAccount != "" {
		j.EPSLast4 = l.EPSAccount.Last4()
	}
	if !l.NextCheckAt.IsZero() {
		j.NextCheckAt = l.NextCheckAt.UTC().Format(time.RFC3339Nano)
	}
	return j
}

// enteredAt is when l entered its current state and reason: the time of
// the last event of its audit trail that moved it there (the flow writes an
// event on every change of either), or its creation without one.
func enteredAt(e *env, s linking.Store, l *linking.Link) (time.Time, error) {
	evs, err := s.Events(e.ctx, l.AccountID)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the audit trail of %s: %w", quoteID(l.AccountID), err)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].To == l.State && evs[i].Reason == l.Reason {
			return evs[i].At, nil
		}
	}
	return l.CreatedAt, nil
}

func linkCommand() command {
	return command{
		name: "link", args: "ID", nargs: 1, summary: "inspect one link (redacted) with its audit trail",
		detail: `
Shows the link of platform account ID: state, reason, identifiers (EPS last
four digits only), whether tokens are on file and under which sealing key,
their expiries, the reconciler's schedule, then its audit trail.`,
		setup: func(e *env, fs *flag.FlagSet) func([]string) error {
			db := dbFlag(fs)
			return func(args []string) error {
				l, evs, err := e.linkWithEvents(*db, args[0])
				if err != nil {
					return err
				}
				if err := e.openEPS(l); err != nil {
					return err
				}
				printLink(e.stdout, l)
				fmt.Fprintf(e.stdout, "\naudit trail (%d events):\n", len(evs))
				return printEvents(e.stdout, evs)
			}
		},
	}
}

func printLink(out io.Writer, l *linking.Link) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(w, "%s\t%s\n", k, v) }
	row("account", quoteID(l.AccountID))
	row("state", string(l.State))
	row("reason", dash(string(l.Reason)))
	row("environment", dash(clean(string(l.Environment))))
	row("crid", dash(clean(string(l.CRID))))
	row("mid", dash(clean(string(l.MID))))
	row("manifest mid", dash(clean(string(l.ManifestMID))))
	row("eps", eps(l))
	row("returns mid", dash(clean(string(l.ReturnsMID))))
	row("nsa contract", dash(clean(l.NSAContract)))
	for _, loc := range l.Locations {
		e := "sealed"
		if loc.EPSAccount != "" {
			e = "…" + loc.EPSAccount.Last4()
		}
		row("location "+quoteID(loc.Label), fmt.Sprintf("mid %s, manifest mid %s, eps %s, payment token %s",
			dash(clean(string(loc.MID))), dash(clean(string(loc.ManifestMID))), e, sealedDesc(loc.PaymentToken)))
	}
	row("token", sealedDesc(l.Token))
	row("access expires", fmtTime(l.TokenExpiry))
	row("refresh expires", fmtTime(l.RefreshExpiry))
	row("payment token", sealedDesc(l.PaymentToken))
	row("payment expires", fmtTime(l.PaymentTokenExpiry))
	row("version", strconv.FormatInt(l.Version, 10))
	row("created", fmtTime(l.CreatedAt))
	row("updated", fmtTime(l.UpdatedAt))
	row("next check", fmtTime(l.NextCheckAt))
	row("check attempts", strconv.Itoa(l.CheckAttempts))
	row("last error", dash(clean(l.LastError)))
	_ = w.Flush()
}

func printEvents(out io.Writer, evs []linking.Event) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SEQ\tAT\tFROM\tTO\tREASON\tCAUSE\tACTOR")
	for _, ev := range evs {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Seq, fmtTime(ev.At), dash(string(ev.From)), ev.To,
			dash(string(ev.Reason)), dash(clean(ev.Cause)), dash(clean(ev.Actor)))
	}
	return w.Flush()
}

func eventsCommand() command {
	return command{
		name: "events", args: "ID", nargs: 1, summary: "export a link's audit trail",
		detail: `
Writes the audit trail of platform account ID, oldest first, as a JSON array
or as CSV with a header row. Times are RFC 3339 in UTC. In CSV, a cell that
starts with = + - @ or a control character gets a leading ' so that a
spreadsheet does not run it as a formula.`,
		setup: func(e *env, fs *flag.FlagSet) func([]string) error {
			db := dbFlag(fs)
			format := fs.String("format", "json", "json or csv")
			return func(args []string) error {
				if *format != "json" && *format != "csv" {
					return usagef("-format %s: want json or csv", strconv.Quote(*format))
				}
				_, evs, err := e.linkWithEvents(*db, args[0])
				if err != nil {
					return err
				}
				if *format == "csv" {
					return writeEventsCSV(e.stdout, evs)
				}
				return writeEventsJSON(e.stdout, evs)
			}
		},
	}
}

// eventJSON is the exported form of an event; its field names are the
// export's contract.
type eventJSON struct {
	AccountID string `json:"account_id"`
	Seq       int64  `json:"seq"`
	At        string `json:"at"`
	From      string `json:"from"`
	To        string `json:"to"`
	Reason    string `json:"reason"`
	Cause     string `json:"cause"`
	Actor     string `json:"actor"`
}

func exportEvent(ev linking.Event) eventJSON {
	return eventJSON{AccountID: ev.AccountID, Seq: ev.Seq, At: ev.At.UTC().Format(time.RFC3339Nano),
		From: string(ev.From), To: string(ev.To), Reason: string(ev.Reason), Cause: ev.Cause, Actor: ev.Actor}
}

func writeEventsJSON(w io.Writer, evs []linking.Event) error {
	out := make([]eventJSON, 0, len(evs))
	for _, ev := range evs {
		out = append(out, exportEvent(ev))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeEventsCSV(w io.Writer, evs []linking.Event) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"account_id", "seq", "at", "from", "to", "reason", "cause", "actor"})
	for _, ev := range evs {
		x := exportEvent(ev)
		_ = cw.Write([]string{csvCell(x.AccountID), strconv.FormatInt(x.Seq, 10), x.At, x.From, x.To, x.Reason,
			csvCell(x.Cause), csvCell(x.Actor)})
	}
	cw.Flush()
	return cw.Error()
}

// csvCell defuses a cell a spreadsheet would run as a formula (OWASP's
// CSV injection advice).
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// eps is the EPS account as an operator may see it: its last four digits.
func eps(l *linking.Link) string {
	if l.EPSAccount == "" && len(l.SealedEPS) > 0 {
		return "sealed (set NSALINK_SEAL_KEYS to see its last 4 digits)"
	}
	if l.EPSAccount == "" {
		return "-"
	}
	return "…" + l.EPSAccount.Last4()
}

// sealedDesc says whether a sealed value is on file and under which key id
// (read from its header, not authenticated), never its bytes.
func sealedDesc(b []byte) string {
	if len(b) == 0 {
		return "none"
	}
	id, err := seal.KeyID(b)
	if err != nil {
		return "sealed (header unreadable)"
	}
	return "sealed, key " + quoteID(id)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// quoteID shows an id as is when it is plain, and quoted (with escapes)
// when it holds spaces or characters a terminal would interpret.
func quoteID(s string) string {
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) || r == '"' }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// clean makes free text safe for a terminal and a table: control characters
// (escape sequences, tabs, newlines) become spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
}

// openEPS fills l.EPSAccount from its sealed form when the sealing keys are
// in the environment; without them the EPS stays sealed and prints so.
func (e *env) openEPS(l *linking.Link) error {
	if e.getenv("NSALINK_SEAL_KEYS") == "" || len(l.SealedEPS) == 0 {
		return nil
	}
	if e.epsSealer == nil {
		s, _, err := e.sealer()
		if err != nil {
			return err
		}
		e.epsSealer = s
	}
	a, err := linking.OpenEPS(e.epsSealer, l)
	if err != nil {
		return fmt.Errorf("opening the EPS account of %s: %w", quoteID(l.AccountID), err)
	}
	l.EPSAccount = a
	return nil
}

// linkWithEvents reads the link of account id and its audit trail from the
// database of the -db flag (or $NSALINK_DB).
func (e *env) linkWithEvents(db, id string) (*linking.Link, []linking.Event, error) {
	s, err := e.store(db)
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	l, err := getLink(e.ctx, s, id)
	if err != nil {
		return nil, nil, err
	}
	evs, err := s.Events(e.ctx, l.AccountID)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the audit trail: %w", err)
	}
	return l, evs, nil
}
