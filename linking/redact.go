package linking

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
)

// fmt's %s and %q of a pointer field fall back to printing the pointed-to
// struct with no Format or String method consulted (its "bad verb" path),
// so any type holding a pointer to a secret must format itself. go vet does
// not see this when the value travels as an interface (any, error,
// oauth2.TokenSource).

// Format prints the Linker's environment and platform only, for every verb:
// the client secret lives behind its fields. (A Linker holds atomics and is
// never copied, so only *Linker is printed; go vet reports a copy.)
func (l *Linker) Format(f fmt.State, verb rune) {
	writeRedacted(f, verb, "linking.Linker{environment: "+string(l.environment)+", platform: "+l.platformName+"}")
}

// Format prints the account id only: the source caches the customer's
// access and refresh tokens.
func (s *linkTokenSource) Format(f fmt.State, verb rune) {
	writeRedacted(f, verb, "linking.TokenSource{account: "+s.accountID+"}")
}

// Format prints the verdicts, never the payment authorization token or the
// roles' EPS account numbers it echoes.
func (v credentialsVerdict) Format(f fmt.State, verb rune) {
	pay := "none"
	if v.Payment != nil {
		pay = "[REDACTED]"
	}
	writeRedacted(f, verb, fmt.Sprintf("linking.credentialsVerdict{CRID: %s, MID: %s, ManifestMID: %s, EPS: %s, EPAActive: %t, EPACode: %s, Payment: %s, Calls: %d}",
		v.CRID.Verdict, v.MID.Verdict, v.ManifestMID.Verdict, v.EPS.Verdict, v.EPAActive, v.EPACode, pay, v.Calls))
}

// redactedInput is CredentialsInput as printed: the EPS number shows its
// last four digits only.
func (in CredentialsInput) redacted() map[string]string {
	eps := ""
	if in.EPS != "" {
		r := []rune(in.EPS)
		eps = "******" + string(r[max(0, len(r)-4):])
	}
	return map[string]string{"crid": in.CRID, "mid": in.MID, "manifest_mid": in.ManifestMID, "eps": eps}
}

// Format prints the input with the EPS number cut to its last four digits,
// for every verb.
func (in CredentialsInput) Format(f fmt.State, verb rune) {
	r := in.redacted()
	writeRedacted(f, verb, fmt.Sprintf("linking.CredentialsInput{CRID: %q, MID: %q, ManifestMID: %q, EPS: %q}", r["crid"], r["mid"], r["manifest_mid"], r["eps"]))
}

// LogValue implements slog.LogValuer with the EPS number cut to its last
// four digits.
func (in CredentialsInput) LogValue() slog.Value {
	r := in.redacted()
	return slog.GroupValue(slog.String("crid", r["crid"]), slog.String("mid", r["mid"]),
		slog.String("manifest_mid", r["manifest_mid"]), slog.String("eps", r["eps"]))
}

// MarshalJSON encodes the input with the EPS number cut to its last four
// digits: JSON of it is for logs and audits, never for sending to USPS.
func (in CredentialsInput) MarshalJSON() ([]byte, error) { return json.Marshal(in.redacted()) }

func writeRedacted(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = f.Write([]byte(s))
}
