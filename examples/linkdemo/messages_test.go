package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/nsalink/nsalink/linking"
	"github.com/stretchr/testify/assert"
)

// pageState is what a page of the host says about the link: the state it
// was rendered for (<main data-state data-reason>), its status messages
// (the elements marked data-msg) and which controls it offers.
type pageState struct {
	State    linking.State   `json:"state"`
	Reason   linking.Reason  `json:"reason"`
	Messages []shownMessage  `json:"messages"`
	Controls map[string]bool `json:"controls"`
}

type shownMessage struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// The controls whose presence depends on the state.
var stateControls = []string{"link-account", "unlink", "popup"}

// contradictions lists what a page shows that does not hold for the state
// it was rendered for: a message of another state, a control that makes no
// sense in it, or a message shown twice. A page without a state (sign-in,
// the USPS stand-in) has none.
func contradictions(p pageState) []string {
	if p.State == "" {
		return nil
	}
	st := p.State
	// The test's own idea of "the grant at USPS holds", not the demo's.
	connected := st == linking.StateAwaitingCredentials || st == linking.StateApprovalPending || st == linking.StateActive ||
		st == linking.StateActionRequired && p.Reason != linking.ReasonTokenRevoked
	phrases := []struct {
		phrase string
		ok     bool // whether the phrase may be shown in this state
	}{
		{"Connect your USPS business account", !connected && st != linking.StateActive},
		{"link your business account", !connected},
		{"connected", connected},
		{"One last step", st == linking.StateAwaitingCredentials},
		{"approval pending", st == linking.StateApprovalPending},
		{"could not finish checking", st == linking.StateApprovalPending},
		{"linked and approved", st == linking.StateActive},
		{"NSA rates apply", st == linking.StateActive},
		{"Action required", st == linking.StateActionRequired},
		{"already used", !connected},
		{"took too long", !connected},
		{"cancelled at USPS", !connected},
		{"did not complete", !connected},
		{"unlinked", st == linking.StateUnlinked},
	}
	var bad []string
	for _, m := range p.Messages {
		lower := strings.ToLower(m.Text)
		for _, r := range phrases {
			if !r.ok && strings.Contains(lower, strings.ToLower(r.phrase)) {
				bad = append(bad, fmt.Sprintf("#%s %q says %q, which does not hold for %s", m.ID, m.Text, r.phrase, describeState(p)))
			}
		}
	}
	for i, a := range p.Messages {
		for _, b := range p.Messages[i+1:] {
			x, y := strings.ToLower(a.Text), strings.ToLower(b.Text)
			if x != "" && y != "" && (strings.Contains(x, y) || strings.Contains(y, x)) {
				bad = append(bad, fmt.Sprintf("#%s and #%s say the same: %q, %q", a.ID, b.ID, a.Text, b.Text))
			}
		}
	}
	controls := map[string]bool{
		"link-account": !connected,
		"unlink":       connected || st == linking.StateActionRequired,
	}
	for _, id := range stateControls {
		want, ok := controls[id]
		if id == "popup" {
			want, ok = false, st != linking.StateUnlinked // optional while unlinked (it can be dismissed), never after
		}
		if id != "popup" && !p.Controls["settings-page"] {
			continue // the dashboard offers neither
		}
		if ok && p.Controls[id] != want {
			bad = append(bad, fmt.Sprintf("#%s present=%v for %s", id, p.Controls[id], describeState(p)))
		}
	}
	return bad
}

func describeState(p pageState) string {
	if p.Reason == "" {
		return string(p.State)
	}
	return string(p.State) + " (" + string(p.Reason) + ")"
}

// assertConsistent fails t for each contradiction on the page.
func assertConsistent(t *testing.T, name string, p pageState) {
	t.Helper()
	for _, c := range contradictions(p) {
		assert.Fail(t, "contradictory page", "%s: %s", name, c)
	}
}

var (
	mainStatePattern = regexp.MustCompile(`<main(?: data-state="([^"]*)")?(?: data-reason="([^"]*)")?>`)
	msgIDPattern     = regexp.MustCompile(`id="([^"]+)"[^>]*\sdata-msg[\s>]`)
)

// stateOf reads a page fetched over HTTP as the browser test reads it.
func stateOf(p *page) pageState {
	var ps pageState
	if m := mainStatePattern.FindStringSubmatch(p.body); m != nil {
		ps.State, ps.Reason = linking.State(m[1]), linking.Reason(m[2])
	}
	for _, m := range msgIDPattern.FindAllStringSubmatch(p.body, -1) {
		ps.Messages = append(ps.Messages, shownMessage{ID: m[1], Text: p.text(m[1])})
	}
	ps.Controls = map[string]bool{"settings-page": strings.Contains(p.body, `id="steps"`)}
	for _, id := range stateControls {
		ps.Controls[id] = strings.Contains(p.body, ` id="`+id+`"`)
	}
	return ps
}

// The checker itself finds each kind of contradiction the issue reported.
func TestContradictionsFound(t *testing.T) {
	settings := map[string]bool{"settings-page": true}
	for _, tc := range []struct {
		name string
		p    pageState
		want string
	}{
		{"connect banner under connected notice", pageState{State: linking.StateAwaitingCredentials, Controls: settings, Messages: []shownMessage{
			{"notice", "Your USPS business account is connected."}, {"banner-text", "Connect your USPS business account to Acme Ship to access NSA rates."}}},
			`#banner-text "Connect your USPS business account to Acme Ship to access NSA rates." says "Connect your USPS business account"`},
		{"link card while active", pageState{State: linking.StateActive, Controls: map[string]bool{"settings-page": true, "link-account": true, "unlink": true}},
			"#link-account present=true for active"},
		{"replayed callback above linked and approved", pageState{State: linking.StateActive, Controls: map[string]bool{"unlink": true}, Messages: []shownMessage{
			{"error", "That USPS sign-in was already used. Please link your business account again."}, {"active", "Your USPS business account is linked and approved."}}},
			`says "already used"`},
		{"a message twice", pageState{State: linking.StateActionRequired, Reason: linking.ReasonEPANotActive, Controls: map[string]bool{"unlink": true}, Messages: []shownMessage{
			{"banner-text", "Your Enterprise Payment Account is not active yet."}, {"action", "Action required. Your Enterprise Payment Account is not active yet."}}},
			"#banner-text and #action say the same"},
		{"no unlink control once linked", pageState{State: linking.StateApprovalPending, Controls: settings},
			"#unlink present=false for approval_pending"},
		{"the pop-up after linking", pageState{State: linking.StateActive, Controls: map[string]bool{"unlink": true, "popup": true}},
			"#popup present=true for active"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := contradictions(tc.p)
			assert.Condition(t, func() bool {
				for _, c := range got {
					if strings.Contains(c, tc.want) {
						return true
					}
				}
				return false
			}, "want %q in %q", tc.want, got)
		})
	}
	assert.Empty(t, contradictions(pageState{State: linking.StateActive, Controls: map[string]bool{"settings-page": true, "unlink": true},
		Messages: []shownMessage{{"active", "Your USPS business account is linked and approved: NSA rates apply to your labels."}}}))
	assert.Empty(t, contradictions(pageState{Messages: []shownMessage{{"error", "anything"}, {"notice", "anything"}}}), "a page with no state")
}
