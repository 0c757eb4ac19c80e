package linking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nsalink/nsalink/usps"
)

// CredentialsInput is what the customer typed after authorizing.
// ManifestMID may be empty: the MID then serves as the manifest MID.
type CredentialsInput struct {
	CRID        string
	MID         string
	ManifestMID string
	EPS         string
}

// FieldProblem is one rejected field, in words a customer can act on.
type FieldProblem struct {
	Field   string // "crid", "mid", "manifest_mid" or "eps"
	Message string
	Err     error // the *usps.FieldError
}

// CredentialsError lists every malformed field of a CredentialsInput. Nothing
// was stored and no USPS call was made.
type CredentialsError struct {
	Fields []FieldProblem
}

func (e *CredentialsError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Message
	}
	return "linking: invalid credentials: " + strings.Join(parts, "; ")
}

// Unwrap gives the field errors (each matches usps.ErrInvalidIdentifier).
func (e *CredentialsError) Unwrap() []error {
	errs := make([]error, len(e.Fields))
	for i, f := range e.Fields {
		errs[i] = f.Err
	}
	return errs
}

// ParsedCredentials are validated identifiers.
type ParsedCredentials struct {
	CRID        usps.CRID
	MID         usps.MID
	ManifestMID usps.MID
	EPS         usps.EPSAccount
}

// ParseCredentials checks every field and reports all problems at once.
func ParseCredentials(in CredentialsInput) (ParsedCredentials, error) {
	var p ParsedCredentials
	var problems []FieldProblem
	add := func(field string, err error) {
		var fe *usps.FieldError
		msg := err.Error()
		if errors.As(err, &fe) {
			msg = fe.Field + ": " + fe.Reason
		}
		problems = append(problems, FieldProblem{Field: field, Message: msg, Err: err})
	}
	var err error
	if p.CRID, err = usps.ParseCRID(in.CRID); err != nil {
		add("crid", err)
	}
	if p.MID, err = usps.ParseMID(in.MID); err != nil {
		add("mid", err)
	}
	if strings.TrimSpace(in.ManifestMID) == "" {
		p.ManifestMID = p.MID
	} else if p.ManifestMID, err = usps.ParseManifestMID(in.ManifestMID); err != nil {
		add("manifest_mid", err)
	}
	if p.EPS, err = usps.ParseEPSAccount(in.EPS); err != nil {
		add("eps", err)
	}
	if len(problems) > 0 {
		return ParsedCredentials{}, &CredentialsError{Fields: problems}
	}
	return p, nil
}

// SubmitCredentials stores the customer's CRID, MID, manifest MID and EPS
// number and moves the link to approval pending, then verifies them with
// USPS at once (see Verify) so that the customer hears about a missing or
// pending EPA right away. Malformed input returns a *CredentialsError and
// changes nothing. The link must have a customer token (ErrNotLinked
// otherwise).
//
// A USPS failure that is not about the customer's account (quota, outage)
// leaves the link pending for the reconciler; that is not an error here:
// the returned Status has State approval pending and LastError saying why.
func (l *Linker) SubmitCredentials(ctx context.Context, accountID string, in CredentialsInput) (Status, error) {
	p, err := ParseCredentials(in)
	if err != nil {
		return Status{}, err
	}
	_, err = l.update(ctx, accountID, "user", "credentials", func(lk *Link) (State, Reason, error) {
		if len(lk.Token) == 0 {
			return "", "", ErrNotLinked
		}
		switch lk.State {
		case StateAwaitingCredentials, StateApprovalPending, StateActive, StateActionRequired:
		default:
			return "", "", &TransitionError{From: lk.State, To: StateApprovalPending}
		}
		lk.CRID, lk.MID, lk.ManifestMID, lk.EPSAccount = p.CRID, p.MID, p.ManifestMID, p.EPS
		lk.PaymentToken, lk.PaymentTokenExpiry = nil, time.Time{}
		lk.NextCheckAt, lk.CheckAttempts, lk.LastError = l.now().UTC(), 0, ""
		return StateApprovalPending, ReasonNone, nil
	})
	if errors.Is(err, ErrNotFound) {
		return Status{}, ErrNotLinked
	}
	if err != nil {
		return Status{}, err
	}
	lk, err := l.Verify(ctx, accountID)
	if lk == nil {
		return Status{}, fmt.Errorf("linking: verifying credentials: %w", err)
	}
	if err != nil {
		// Saved and pending; the reconciler finishes the check.
		l.logger.LogAttrs(ctx, slog.LevelWarn, "credentials saved, check deferred", slog.String("account_id", accountID), slog.String("error", err.Error()))
	}
	return statusOf(lk), nil
}
