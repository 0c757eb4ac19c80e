package linking

import (
	"errors"
	"fmt"

	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
)

// Payer says whose EPS account pays postage.
type Payer string

// The payers of a PaymentModel.
const (
	// PayerCustomer: the customer's EPS account pays and holds the NSA
	// prices (PAYER and RATE_HOLDER). It must be funded: USPS refuses an
	// account without a payment method as PAYER (100003).
	PayerCustomer Payer = "customer"
	// PayerPlatform: the platform pays from its own EPS account (PAYER,
	// under the platform's CRID) and the customer's EPS account is only the
	// rate card (RATE_HOLDER), which need not be funded. This is how
	// aggregating platforms bill (docs/usps.md#how-platforms-bill).
	PayerPlatform Payer = "platform"
)

// PaymentModel is who pays for labels and which payment roles the Linker
// sends: the credentials check, the 8-hour payment token (PaymentToken) and
// so label purchase all use the same roles. The zero value is the customer
// paying, without return labels.
//
// Roles sent, for a customer with CRID c, MID m, manifest MID mm, returns
// MID r and EPS account e, and a platform with CRID p (WithPlatform) and
// EPS account pe:
//
//	customer pays:  PAYER(c, e)  RATE_HOLDER(c, e)  LABEL_OWNER(c, m, mm)  PLATFORM(p)
//	platform pays:  PAYER(p, pe) RATE_HOLDER(c, e)  LABEL_OWNER(c, m, mm)  PLATFORM(p)
//	with Returns, in addition: RETURN_LABEL_PAYER (as PAYER),
//	RETURN_LABEL_RATE_HOLDER(c, e) and RETURN_LABEL_OWNER(c, r, mm)
//	(for a link that has a returns MID).
type PaymentModel struct {
	Payer Payer // "" is PayerCustomer
	// PlatformEPS is the platform's own EPS account number, required with
	// PayerPlatform (and refused otherwise). It must belong to the
	// platform's CRID.
	PlatformEPS string
	// Returns also authorizes return labels at the customer's NSA prices:
	// customers must then give a returns MID (CredentialsInput.ReturnsMID).
	// Links saved before without one keep working with the outbound roles
	// only, until their credentials are saved again.
	Returns bool
}

// paymentModel is a validated PaymentModel.
type paymentModel struct {
	platformPays bool
	platformEPS  usps.EPSAccount
	returns      bool
}

// WithPaymentModel sets who pays postage and whether return labels are
// authorized (default: the customer pays, no return labels). An invalid
// model is an error naming the field.
func WithPaymentModel(m PaymentModel) Option {
	return func(l *Linker) error {
		pm := paymentModel{returns: m.Returns}
		switch m.Payer {
		case "", PayerCustomer:
			if m.PlatformEPS != "" {
				return errors.New("linking: WithPaymentModel: PlatformEPS is only for PayerPlatform")
			}
		case PayerPlatform:
			eps, err := usps.ParseEPSAccount(m.PlatformEPS)
			if err != nil {
				return fmt.Errorf("linking: WithPaymentModel: PlatformEPS: %w", err)
			}
			pm.platformPays, pm.platformEPS = true, eps
		default:
			return fmt.Errorf("linking: WithPaymentModel: Payer %q is not %q or %q", m.Payer, PayerCustomer, PayerPlatform)
		}
		l.model = pm
		return nil
	}
}

// PaymentModel returns the Linker's payment model (the platform's EPS
// account number is not returned).
func (l *Linker) PaymentModel() PaymentModel {
	m := PaymentModel{Payer: PayerCustomer, Returns: l.model.returns}
	if l.model.platformPays {
		m.Payer = PayerPlatform
	}
	return m
}

// payAccount is one set of identifiers that prices and pays: a link's
// default account or one of its locations.
type payAccount struct {
	CRID        usps.CRID
	MID         usps.MID
	ManifestMID usps.MID
	EPS         usps.EPSAccount
	ReturnsMID  usps.MID
}

// roles is the payment authorization of a under the model: see
// PaymentModel for the roles of each model.
func (m paymentModel) roles(a payAccount, platformCRID usps.CRID) uspsbiz.PaymentRequest {
	payer := uspsbiz.Role{Name: uspsbiz.RolePayer, CRID: a.CRID, AccountType: uspsbiz.AccountEPS, Account: a.EPS}
	if m.platformPays {
		payer.CRID, payer.Account = platformCRID, m.platformEPS
	}
	roles := []uspsbiz.Role{
		payer,
		{Name: uspsbiz.RoleRateHolder, CRID: a.CRID, AccountType: uspsbiz.AccountEPS, Account: a.EPS},
		{Name: uspsbiz.RoleLabelOwner, CRID: a.CRID, MID: a.MID, ManifestMID: a.ManifestMID},
	}
	if m.returns && a.ReturnsMID != "" {
		// A link from before return labels were turned on has no returns
		// MID: it keeps its outbound roles until the customer gives one.
		rp := payer
		rp.Name = uspsbiz.RoleReturnLabelPayer
		roles = append(roles, rp,
			uspsbiz.Role{Name: uspsbiz.RoleReturnLabelRateHolder, CRID: a.CRID, AccountType: uspsbiz.AccountEPS, Account: a.EPS},
			uspsbiz.Role{Name: uspsbiz.RoleReturnLabelOwner, CRID: a.CRID, MID: a.ReturnsMID, ManifestMID: a.ManifestMID})
	}
	return uspsbiz.PaymentRequest{Roles: append(roles, uspsbiz.Role{Name: uspsbiz.RolePlatform, CRID: platformCRID})}
}

// platformAccount reports whether a role's account is the platform's own
// under this model (so that a problem with it is not the customer's).
func (m paymentModel) platformAccount(role uspsbiz.RoleName) bool {
	return m.platformPays && (role == uspsbiz.RolePayer || role == uspsbiz.RoleReturnLabelPayer)
}
