// Package storekit is for implementers of linking.Store: it checks the
// records a Store is given, as every Store must, and prepares the copies to
// store, so that an implementation only persists them. linking/memstore and
// linking/sqlstore use it; linking/storetest checks the result.
//
// A host that uses one of those stores never needs this package.
package storekit

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nsalink/nsalink/linking"
)

// Limits every store enforces.
const (
	maxStringLen    = 1024 // longest stored string field, in bytes
	maxAccountIDLen = 255  // longest account id, in bytes
)

// PrepareCreate is CreateLink's common part: it validates l and returns the
// copy to store, with CreatedAt and UpdatedAt set to now when zero, Version
// 1 and every time in UTC truncated to microseconds (the precision every
// Store keeps). l is not modified.
func PrepareCreate(l *linking.Link, now time.Time) (*linking.Link, error) {
	if err := checkLink(l); err != nil {
		return nil, err
	}
	c := CloneLink(l)
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = now
	}
	c.Version = 1
	normalizeTimes(c)
	return c, nil
}

// PrepareUpdate is the common part of UpdateLink and LinkTx.Update: it
// validates l and ev (an event of another account is an error) and returns
// the copies to store: the link with its times normalised, and the event,
// if any, with AccountID set and At defaulted to the link's UpdatedAt. The
// store still assigns the link's new Version (and keeps its CreatedAt) and
// the event's Seq. l and ev are not modified.
func PrepareUpdate(l *linking.Link, ev *linking.Event) (*linking.Link, *linking.Event, error) {
	if err := checkLink(l); err != nil {
		return nil, nil, err
	}
	c := CloneLink(l)
	normalizeTimes(c)
	if ev == nil {
		return c, nil, nil
	}
	if err := checkEvent(ev); err != nil {
		return nil, nil, err
	}
	if ev.AccountID != "" && ev.AccountID != l.AccountID {
		return nil, nil, fmt.Errorf("%w: Event.AccountID differs from Link.AccountID", linking.ErrInvalidRecord)
	}
	e := *ev
	e.AccountID = l.AccountID
	if e.At.IsZero() {
		e.At = c.UpdatedAt
	}
	e.At = normTime(e.At)
	return c, &e, nil
}

// PrepareAuthRequest is PutAuthRequest's common part: it validates a and
// returns the copy to store, with CreatedAt set to now when zero and its
// times normalised. a is not modified.
func PrepareAuthRequest(a *linking.AuthRequest, now time.Time) (*linking.AuthRequest, error) {
	if err := checkAuthRequest(a); err != nil {
		return nil, err
	}
	c := CloneAuthRequest(a)
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	c.CreatedAt, c.ExpiresAt, c.UsedAt = normTime(c.CreatedAt), normTime(c.ExpiresAt), normTime(c.UsedAt)
	return c, nil
}

// CloneLink returns a deep copy of l (byte slices included; an empty one
// becomes nil, which is how stores read "none" back). CloneLink(nil) is nil.
func CloneLink(l *linking.Link) *linking.Link {
	if l == nil {
		return nil
	}
	c := *l
	c.Token = cloneBytes(l.Token)
	c.PaymentToken = cloneBytes(l.PaymentToken)
	c.SealedEPS = cloneBytes(l.SealedEPS)
	c.Locations = nil
	for _, loc := range l.Locations {
		loc.SealedEPS = cloneBytes(loc.SealedEPS)
		loc.PaymentToken = cloneBytes(loc.PaymentToken)
		c.Locations = append(c.Locations, loc)
	}
	return &c
}

// CloneAuthRequest returns a deep copy of a. CloneAuthRequest(nil) is nil.
func CloneAuthRequest(a *linking.AuthRequest) *linking.AuthRequest {
	if a == nil {
		return nil
	}
	c := *a
	c.StateHash = cloneBytes(a.StateHash)
	c.SessionHash = cloneBytes(a.SessionHash)
	c.Verifier = cloneBytes(a.Verifier)
	return &c
}

// checkLink checks what every store requires of a link, and reports the
// first problem as an error wrapping linking.ErrInvalidRecord that names
// the field, never its value.
func checkLink(l *linking.Link) error {
	if l == nil {
		return fmt.Errorf("%w: nil link", linking.ErrInvalidRecord)
	}
	if err := checkID("AccountID", l.AccountID); err != nil {
		return err
	}
	if !l.State.Valid() {
		return fmt.Errorf("%w: State %q is not a known state", linking.ErrInvalidRecord, l.State)
	}
	if !l.Reason.Valid() {
		return fmt.Errorf("%w: Reason %q is not a known reason", linking.ErrInvalidRecord, l.Reason)
	}
	for _, f := range []struct{ name, v string }{
		{"Environment", string(l.Environment)}, {"CRID", string(l.CRID)}, {"MID", string(l.MID)},
		{"ManifestMID", string(l.ManifestMID)}, {"EPSAccount", l.EPSAccount.Reveal()}, {"LastError", l.LastError},
		{"ReturnsMID", string(l.ReturnsMID)}, {"NSAContract", l.NSAContract},
	} {
		if err := checkText(f.name, f.v); err != nil {
			return err
		}
	}
	labels := map[string]bool{}
	for i, loc := range l.Locations {
		for _, f := range []struct{ name, v string }{
			{"Label", loc.Label}, {"MID", string(loc.MID)}, {"ManifestMID", string(loc.ManifestMID)}, {"EPSAccount", loc.EPSAccount.Reveal()},
		} {
			if err := checkText(fmt.Sprintf("Locations[%d].%s", i, f.name), f.v); err != nil {
				return err
			}
		}
		if loc.Label == "" || labels[loc.Label] {
			return fmt.Errorf("%w: Locations[%d].Label is empty or repeated", linking.ErrInvalidRecord, i)
		}
		labels[loc.Label] = true
	}
	if l.CheckAttempts < 0 {
		return fmt.Errorf("%w: CheckAttempts is negative", linking.ErrInvalidRecord)
	}
	return nil
}

// checkEvent checks what every store requires of an event; stores fill in
// AccountID and Seq, so they are not checked here.
func checkEvent(e *linking.Event) error {
	if e.From != "" && !e.From.Valid() {
		return fmt.Errorf("%w: Event.From %q is not a known state", linking.ErrInvalidRecord, e.From)
	}
	if !e.To.Valid() {
		return fmt.Errorf("%w: Event.To %q is not a known state", linking.ErrInvalidRecord, e.To)
	}
	if !e.Reason.Valid() {
		return fmt.Errorf("%w: Event.Reason %q is not a known reason", linking.ErrInvalidRecord, e.Reason)
	}
	if err := checkText("Event.Cause", e.Cause); err != nil {
		return err
	}
	return checkText("Event.Actor", e.Actor)
}

// checkAuthRequest checks what every store requires of an auth request.
func checkAuthRequest(a *linking.AuthRequest) error {
	if a == nil {
		return fmt.Errorf("%w: nil auth request", linking.ErrInvalidRecord)
	}
	if len(a.StateHash) == 0 || len(a.StateHash) > 64 {
		return fmt.Errorf("%w: StateHash must be 1 to 64 bytes", linking.ErrInvalidRecord)
	}
	if err := checkID("AccountID", a.AccountID); err != nil {
		return err
	}
	if err := checkText("Environment", string(a.Environment)); err != nil {
		return err
	}
	if err := checkText("RedirectURI", a.RedirectURI); err != nil {
		return err
	}
	if a.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: ExpiresAt is required", linking.ErrInvalidRecord)
	}
	return nil
}

// CheckAccountID checks an account id given to a lookup (GetLink,
// LockLink, Events, DeleteLink) as CreateLink would: a NUL byte or
// invalid UTF-8, which PostgreSQL's TEXT refuses, is an error wrapping
// linking.ErrInvalidRecord rather than a raw SQL error.
func CheckAccountID(id string) error { return checkID("AccountID", id) }

func checkID(field, v string) error {
	if v == "" || len(v) > maxAccountIDLen {
		return fmt.Errorf("%w: %s must be 1 to %d bytes", linking.ErrInvalidRecord, field, maxAccountIDLen)
	}
	return checkText(field, v)
}

func checkText(field, v string) error {
	if len(v) > maxStringLen {
		return fmt.Errorf("%w: %s is longer than %d bytes", linking.ErrInvalidRecord, field, maxStringLen)
	}
	if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%w: %s must be valid UTF-8 without NUL bytes", linking.ErrInvalidRecord, field)
	}
	return nil
}

// normalizeTimes sets every time of l to UTC truncated to microseconds, the
// precision every Store keeps; the zero time stays zero.
func normalizeTimes(l *linking.Link) {
	for _, t := range []*time.Time{&l.TokenExpiry, &l.RefreshExpiry, &l.PaymentTokenExpiry,
		&l.CreatedAt, &l.UpdatedAt, &l.NextCheckAt} {
		*t = normTime(*t)
	}
	if len(l.Locations) > 0 {
		locs := make([]linking.Location, len(l.Locations))
		for i, loc := range l.Locations {
			loc.PaymentTokenExpiry = normTime(loc.PaymentTokenExpiry)
			loc.SealedEPS, loc.PaymentToken = noneIfEmpty(loc.SealedEPS), noneIfEmpty(loc.PaymentToken)
			locs[i] = loc
		}
		l.Locations = locs
	} else {
		l.Locations = nil
	}
}

// noneIfEmpty is b, or nil when b is empty: stores read "none" back as nil.
func noneIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// normTime returns t in UTC truncated to microseconds; zero stays zero.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
