package linking

import (
	"context"

	"github.com/nsalink/nsalink/internal/seal"
	"github.com/nsalink/nsalink/usps"

	"github.com/nsalink/nsalink/uspsbiz"
)

// Unexported names the external tests use.

type (
	CredentialsVerdict = credentialsVerdict
	FieldVerdict       = fieldVerdict
	Verdict            = verdict
	AESGCMSealer       = aesgcmSealer
)

const (
	VerdictValid     = verdictValid
	VerdictMalformed = verdictMalformed
	VerdictRejected  = verdictRejected
	VerdictUnchecked = verdictUnchecked

	SealedFieldToken        = sealedFieldToken
	SealedFieldPaymentToken = sealedFieldPaymentToken
	SealedFieldVerifier     = sealedFieldVerifier
)

var (
	SealAAD          = sealAAD
	SealedKeyID      = sealedKeyID
	States           = states
	Reasons          = reasons
	Transitions      = transitionTable
	CanTransition    = canTransition
	CheckTransition  = checkTransition
	ParseCredentials = parseCredentials
	RewrapLinks      = rewrapLinks

	// ErrSealKey is what NewAESGCMSealer's errors match.
	ErrSealKey = seal.ErrInvalidKey
)

// CheckCredentials is checkCredentials.
func CheckCredentials(ctx context.Context, c *uspsbiz.Client, in CredentialsInput, platformCRID usps.CRID) (*CredentialsVerdict, error) {
	return checkCredentials(ctx, c, in, paymentModel{}, platformCRID)
}

// CheckCredentialsFor is checkCredentials under a payment model.
func CheckCredentialsFor(ctx context.Context, c *uspsbiz.Client, in CredentialsInput, m PaymentModel, platformCRID usps.CRID) (*CredentialsVerdict, error) {
	var l Linker
	if err := WithPaymentModel(m)(&l); err != nil {
		return nil, err
	}
	return checkCredentials(ctx, c, in, l.model, platformCRID)
}

// OK is ok.
func (v *credentialsVerdict) OK() bool { return v.ok() }

// Fields returns the field verdicts by field key.
func (v *credentialsVerdict) Fields() map[string]fieldVerdict {
	return map[string]fieldVerdict{fieldCRID: v.CRID, fieldMID: v.MID, fieldManifestMID: v.ManifestMID, fieldEPS: v.EPS, fieldReturnsMID: v.ReturnsMID}
}

// SameSubject is sameSubject: whether a verdict for link a applies to b.
func SameSubject(b, a *Link) bool { return sameSubject(b, a) }
