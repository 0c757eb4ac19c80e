package sqlimpl

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/usps"
)

const linkCols = `account_id, state, reason, environment, crid, mid, manifest_mid, eps_account,
	token, token_expiry_us, refresh_expiry_us, payment_token, payment_token_expiry_us,
	version, created_at_us, updated_at_us, next_check_at_us, check_attempts, last_error, eps_sealed,
	returns_mid, nsa_contract, locations`

const authCols = `state_hash, account_id, session_hash, verifier, environment, redirect_uri,
	created_at_us, expires_at_us, used_at_us`

const eventCols = `account_id, seq, at_us, from_state, to_state, reason, cause, actor`

// queries holds the statements of one dialect, written with '?' and
// rebound to $n for PostgreSQL once at construction.
type queries struct {
	dialect Dialect

	insertLink, getLink, lockLink, updateLink, linkExists string
	deleteAuthOfLink, deleteEvents, deleteLink            string
	insertEvent, events                                   string
	insertAuth, consumeAuth, authUsed, deleteExpiredAuth  string
	listAccountIDs                                        string
	selectDue                                             string
	setLockTimeout, setLockHold                           string
}

func newQueries(d Dialect) queries {
	q := queries{dialect: d}
	forUpdate, skipLocked := "", ""
	if d == DialectPostgres {
		forUpdate, skipLocked = " FOR UPDATE", " FOR UPDATE SKIP LOCKED"
		q.setLockTimeout = `SELECT set_config('lock_timeout', $1, true)`
		q.setLockHold = `SELECT set_config('lock_timeout', $1, true), set_config('idle_in_transaction_session_timeout', $2, true)`
	}
	q.insertLink = q.rebind(`INSERT INTO nsalink_links (` + linkCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id) DO NOTHING`)
	q.getLink = q.rebind(`SELECT ` + linkCols + ` FROM nsalink_links WHERE account_id = ?`)
	q.lockLink = q.getLink + forUpdate
	q.updateLink = q.rebind(`UPDATE nsalink_links SET
		state = ?, reason = ?, environment = ?, crid = ?, mid = ?, manifest_mid = ?, eps_account = ?,
		token = ?, token_expiry_us = ?, refresh_expiry_us = ?, payment_token = ?, payment_token_expiry_us = ?,
		updated_at_us = ?, next_check_at_us = ?, check_attempts = ?, last_error = ?, eps_sealed = ?,
		returns_mid = ?, nsa_contract = ?, locations = ?,
		version = version + 1
		WHERE account_id = ? AND version = ?
		RETURNING version, created_at_us`)
	q.linkExists = q.rebind(`SELECT 1 FROM nsalink_links WHERE account_id = ?`)
	q.deleteAuthOfLink = q.rebind(`DELETE FROM nsalink_auth_requests WHERE account_id = ?`)
	q.deleteEvents = q.rebind(`DELETE FROM nsalink_link_events WHERE account_id = ?`)
	q.deleteLink = q.rebind(`DELETE FROM nsalink_links WHERE account_id = ?`)
	// Seq is max+1 for the account; appends are serialised by the link's
	// row (PostgreSQL) or the write lock (SQLite) held by the same
	// transaction's UPDATE. Casts give PostgreSQL the parameter types.
	q.insertEvent = q.rebind(`INSERT INTO nsalink_link_events (` + eventCols + `)
		SELECT CAST(? AS TEXT), COALESCE(MAX(seq), 0) + 1, CAST(? AS BIGINT), CAST(? AS TEXT),
			CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT)
		FROM nsalink_link_events WHERE account_id = ?
		RETURNING seq`)
	q.events = q.rebind(`SELECT ` + eventCols + ` FROM nsalink_link_events WHERE account_id = ? ORDER BY seq`)
	q.insertAuth = q.rebind(`INSERT INTO nsalink_auth_requests (` + authCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (state_hash) DO NOTHING`)
	q.consumeAuth = q.rebind(`UPDATE nsalink_auth_requests SET used_at_us = ?
		WHERE state_hash = ? AND used_at_us = ?
		RETURNING ` + authCols)
	q.authUsed = q.rebind(`SELECT used_at_us FROM nsalink_auth_requests WHERE state_hash = ?`)
	q.deleteExpiredAuth = q.rebind(`DELETE FROM nsalink_auth_requests WHERE expires_at_us < ?`)
	q.listAccountIDs = q.rebind(`SELECT account_id FROM nsalink_links WHERE account_id > ? ORDER BY account_id LIMIT ?`)
	q.selectDue = q.rebind(`SELECT account_id FROM nsalink_links
		WHERE next_check_at_us <= ? AND (state = ? OR next_check_at_us <> ?)
		ORDER BY next_check_at_us, account_id
		LIMIT ?` + skipLocked)
	return q
}

// claim returns the UPDATE of ClaimDue for n accounts.
func (q queries) claim(n int) string {
	return q.rebind(`UPDATE nsalink_links SET next_check_at_us = ?, updated_at_us = ?, version = version + 1
		WHERE account_id IN (?` + strings.Repeat(", ?", n-1) + `)
		RETURNING ` + linkCols)
}

// rebind turns '?' placeholders into PostgreSQL's $1, $2, …
func (q queries) rebind(query string) string {
	if q.dialect != DialectPostgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanLink(sc scanner) (*linking.Link, error) {
	var l linking.Link
	var state, reason, crid, mid, manifestMID, eps, returnsMID, locs string // identifiers are stored as text
	var tokExp, refExp, payExp, created, updated, next int64
	if err := sc.Scan(&l.AccountID, &state, &reason, &l.Environment, &crid, &mid, &manifestMID,
		&eps, &l.Token, &tokExp, &refExp, &l.PaymentToken, &payExp,
		&l.Version, &created, &updated, &next, &l.CheckAttempts, &l.LastError, &l.SealedEPS,
		&returnsMID, &l.NSAContract, &locs); err != nil {
		return nil, err
	}
	l.ReturnsMID = usps.MID(returnsMID)
	var err error
	if l.Locations, err = decodeLocations(locs); err != nil {
		return nil, err
	}
	l.State, l.Reason = linking.State(state), linking.Reason(reason)
	l.CRID, l.MID, l.ManifestMID, l.EPSAccount = usps.CRID(crid), usps.MID(mid), usps.MID(manifestMID), usps.EPSAccount(eps)
	l.Token, l.PaymentToken, l.SealedEPS = noneIfEmpty(l.Token), noneIfEmpty(l.PaymentToken), noneIfEmpty(l.SealedEPS)
	l.TokenExpiry, l.RefreshExpiry, l.PaymentTokenExpiry = fromMicros(tokExp), fromMicros(refExp), fromMicros(payExp)
	l.CreatedAt, l.UpdatedAt, l.NextCheckAt = fromMicros(created), fromMicros(updated), fromMicros(next)
	return &l, nil
}

func scanAuth(sc scanner) (*linking.AuthRequest, error) {
	var a linking.AuthRequest
	var created, expires, used int64
	if err := sc.Scan(&a.StateHash, &a.AccountID, &a.SessionHash, &a.Verifier, &a.Environment,
		&a.RedirectURI, &created, &expires, &used); err != nil {
		return nil, err
	}
	a.StateHash, a.SessionHash, a.Verifier = noneIfEmpty(a.StateHash), noneIfEmpty(a.SessionHash), noneIfEmpty(a.Verifier)
	a.CreatedAt, a.ExpiresAt, a.UsedAt = fromMicros(created), fromMicros(expires), fromMicros(used)
	return &a, nil
}

func scanEvent(sc scanner) (linking.Event, error) {
	var e linking.Event
	var at int64
	var from, to, reason string
	err := sc.Scan(&e.AccountID, &e.Seq, &at, &from, &to, &reason, &e.Cause, &e.Actor)
	e.At, e.From, e.To, e.Reason = fromMicros(at), linking.State(from), linking.State(to), linking.Reason(reason)
	return e, err
}

// micros stores a time as Unix microseconds; the zero time maps to its own
// (very negative) value, distinct from the Unix epoch.
func micros(t time.Time) int64 { return t.UnixMicro() }

var zeroMicros = time.Time{}.UnixMicro()

func fromMicros(us int64) time.Time {
	if us == zeroMicros {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func normTime(t time.Time) time.Time { return fromMicros(micros(t)) }

// bytesArg stores an empty slice as NULL so that nil and empty read back alike.
func bytesArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func noneIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// locationWire is a linking.Location in the locations column (JSON).
type locationWire struct {
	Label              string `json:"label"`
	MID                string `json:"mid,omitempty"`
	ManifestMID        string `json:"manifest_mid,omitempty"`
	EPSAccount         string `json:"eps_account,omitempty"` // only from links written unsealed
	SealedEPS          []byte `json:"eps_sealed,omitempty"`
	PaymentToken       []byte `json:"payment_token,omitempty"`
	PaymentTokenExpiry int64  `json:"payment_token_expiry_us"`
}

// encodeLocations is the locations column of a link: "" for none.
func encodeLocations(locs []linking.Location) (string, error) {
	if len(locs) == 0 {
		return "", nil
	}
	w := make([]locationWire, len(locs))
	for i, l := range locs {
		w[i] = locationWire{Label: l.Label, MID: string(l.MID), ManifestMID: string(l.ManifestMID),
			EPSAccount: l.EPSAccount.Reveal(), SealedEPS: l.SealedEPS, PaymentToken: l.PaymentToken,
			PaymentTokenExpiry: micros(l.PaymentTokenExpiry)}
	}
	b, err := json.Marshal(w)
	return string(b), err
}

func decodeLocations(s string) ([]linking.Location, error) {
	if s == "" {
		return nil, nil
	}
	var w []locationWire
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		return nil, fmt.Errorf("sqlstore: locations column: %w", err)
	}
	out := make([]linking.Location, len(w))
	for i, l := range w {
		out[i] = linking.Location{Label: l.Label, MID: usps.MID(l.MID), ManifestMID: usps.MID(l.ManifestMID),
			EPSAccount: usps.EPSAccount(l.EPSAccount), SealedEPS: noneIfEmpty(l.SealedEPS),
			PaymentToken: noneIfEmpty(l.PaymentToken), PaymentTokenExpiry: fromMicros(l.PaymentTokenExpiry)}
	}
	return out, nil
}
