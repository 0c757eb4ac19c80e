package linking

import "strings"

// Guidance is the customer-facing text of the linking journey, from USPS's
// and the platforms' help pages, as data: every item has a stable key a
// host can translate or restyle, and default English text. "{platform}" in
// a text stands for the platform's name.
type Guidance struct {
	// Popup is shown on first login of an unlinked account; Banner stays
	// on the dashboard until the customer has granted access at USPS;
	// CredentialsBanner replaces it once they have (telling a connected
	// customer to "connect" contradicts the page that just said so), and
	// PendingBanner while USPS approves.
	Popup, Banner, CredentialsBanner, PendingBanner Message
	// Steps are the guideline steps, in order.
	Steps []Step
	// Actions say what to fix for each action-required reason.
	Actions map[Reason]Message
	// Pending explains each approval-pending reason.
	Pending map[Reason]Message
	// Fields are the help texts of the credential fields, by key: "crid",
	// "mid", "manifest_mid", "eps.customer_pays", "eps.platform_pays",
	// "returns_mid", "nsa_contract", "locations", and
	// "payment_account.rate_card" (the payment account step when the
	// platform pays). StatusView.Fields lists those the payment model needs.
	Fields map[string]Message
}

// Message is one text with its stable key.
type Message struct {
	Key  string `json:"key"`
	Text string `json:"text"`
}

// Step is one guideline step; Details are its sub-steps or notes.
type Step struct {
	Key     string    `json:"key"`
	Title   string    `json:"title"`
	Details []Message `json:"details,omitempty"`
	// Done reports, for a link's state and reason, whether the step is
	// behind the customer (nil: never marked).
	Done func(State, Reason) bool `json:"-"`
}

// connected: the customer authorized the platform and the grant holds.
func connected(s State, r Reason) bool {
	switch s {
	case StateAwaitingCredentials, StateApprovalPending, StateActive:
		return true
	case StateActionRequired:
		return r != ReasonTokenRevoked
	}
	return false
}

// credentialsIn: the credentials passed USPS's checks, or what is left is
// for the customer to fix at USPS (their payment account).
func credentialsIn(s State, r Reason) bool {
	return s == StateApprovalPending || s == StateActive || s == StateActionRequired && fixedAtUSPS[r]
}

func paymentAccountIn(s State, _ Reason) bool { return s == StateApprovalPending || s == StateActive }

func active(s State, _ Reason) bool { return s == StateActive }

// DefaultGuidance returns the English guidance, a fresh copy a host may
// change (translate, restyle) and pass to HandlerOptions or View.
func DefaultGuidance() Guidance {
	return Guidance{
		Popup:             Message{"popup.connect", "Connect your USPS business account to keep your NSA rates. Click See Guidelines to begin."},
		Banner:            Message{"banner.connect", "Connect your USPS business account to {platform} to access NSA rates."},
		CredentialsBanner: Message{"banner.enter_credentials", "One last step to NSA rates: enter your CRID, MID and EPS number."},
		PendingBanner:     Message{"banner.approval_pending", "USPS business account approval pending"},
		Steps: []Step{
			{Key: "business_account", Title: "Set up your USPS Business Account",
				Details: []Message{
					{"business_account.new", "New to USPS? Create a USPS Business Account, validate your email and complete the three-step setup wizard."},
					{"business_account.existing", "Already have a USPS Business Account and a linked Enterprise Payment Account? Skip to linking your account."},
				},
				Done: connected},
			{Key: "payment_account", Title: "Add an Enterprise Payment Account (EPA)",
				Details: []Message{
					{"payment_account.add", `On your Business Portal dashboard, under "Add your payment account to get started", agree to the payment account terms, choose Credit Card or ACH Debit, click Continue and complete the setup.`},
					{"payment_account.ach", "ACH: within 24 to 48 hours USPS makes two micro-debits of less than $1.00 to your bank account. Note both amounts, sign back in to the USPS Business Portal and verify them (My Account, then the link under Payment Account). Until then the account shows as Pending."},
				},
				Done: paymentAccountIn},
			{Key: "connect", Title: "Link your business account to {platform}",
				Details: []Message{
					{"connect.mandatory", "This step is mandatory, even where the USPS page suggests it is optional. Without it you lose your NSA rates on every label."},
					{"connect.signin", "Sign in to your USPS.com account and complete the multi-factor authentication."},
					{"connect.authorize", `On the "Grant {platform} Access" screen, check the agreement box and click Authorize and Continue.`},
					{"connect.finish", `On the "Successful Integration" screen, click Go to {platform}.`},
				},
				Done: connected},
			{Key: "credentials", Title: "Enter your CRID, MID and EPS number",
				Details: []Message{
					{"credentials.where", "Find them in the USPS Business Portal, or ask your USPS sales representative: CRID (Customer Registration ID), MID (Mailer ID) and EPS (Enterprise Payment System) account number."},
				},
				Done: credentialsIn},
			{Key: "approval", Title: "Wait for USPS approval",
				Details: []Message{
					{"approval.pending", "After saving, the banner reads \"USPS business account approval pending\" until USPS confirms your contract rates."},
				},
				Done: active},
		},
		Actions: map[Reason]Message{
			ReasonEPAMissing:             {"action.epa_missing", "We could not find an Enterprise Payment Account with that EPS number. Check the number, or add a payment account in the USPS Business Portal."},
			ReasonEPANotActive:           {"action.epa_not_active", "Your Enterprise Payment Account is not active yet. If you chose ACH, verify the two micro-debits in the USPS Business Portal; we check again automatically."},
			ReasonNoPaymentMethod:        {"action.no_payment_method", "Your Enterprise Payment Account has no payment method. Add a credit card or ACH debit in the USPS Business Portal."},
			ReasonPaymentMethodNotActive: {"action.payment_method_not_active", "The payment method of your Enterprise Payment Account is not active. If it is an ACH debit, verify the two micro-debits."},
			ReasonCardTrouble:            {"action.card_trouble", "USPS could not validate your credit card. Check its details in the USPS Business Portal."},
			ReasonInsufficientFunds:      {"action.insufficient_funds", "Your payment account's balance is too low. Add funds in the USPS Business Portal."},
			ReasonCRIDNotEnrolled:        {"action.crid_not_enrolled", "USPS says this CRID and MID are not enrolled for shipping. Check them, or ask your USPS sales representative."},
			ReasonCredentialsRejected:    {"action.credentials_rejected", "USPS did not accept these CRID, MID and EPS numbers together. Check them and save again."},
			ReasonTokenRevoked:           {"action.token_revoked", "Your USPS authorization ended (for example after a USPS password reset). Link your business account again."},
		},
		Fields: map[string]Message{
			fieldCRID:                   {"field.crid", "CRID (Customer Registration ID), shown in the USPS Business Portal."},
			fieldMID:                    {"field.mid", "Outbound (Master) Mailer ID: 6 or 9 digits."},
			fieldManifestMID:            {"field.manifest_mid", "Label (manifest) Mailer ID, if USPS gave you one; leave empty to use the MID."},
			"eps.customer_pays":         {"field.eps.customer_pays", "EPS account number (10 digits): it pays your postage and holds your NSA prices."},
			"eps.platform_pays":         {"field.eps.platform_pays", "EPS account number (10 digits) that holds your NSA prices. {platform} pays the postage: this account is not charged and needs no payment method."},
			fieldReturnsMID:             {"field.returns_mid", "Returns Mailer ID, enrolled in USPS Ship Returns: return labels use it."},
			fieldNSAContract:            {"field.nsa_contract", "NSA contract number as shown in the USPS portal (optional; helps our support team)."},
			fieldLocations:              {"field.locations", "More locations (optional): a label, MID, manifest MID and EPS account number for each warehouse that ships under its own account."},
			"payment_account.rate_card": {"payment_account.rate_card", "Your NSA prices live in an Enterprise Payment Account. {platform} pays the postage, so that account needs no payment method."},
		},
		Pending: map[Reason]Message{
			ReasonNone:                 {"pending.checking", "We are checking your account with USPS."},
			ReasonContractNotEffective: {"pending.contract_not_effective", "USPS does not return your contract rates yet. We check again automatically; this usually resolves once USPS approves the link."},
		},
	}
}

// render replaces {platform} in text.
func (g Guidance) render(text, platform string) string {
	return strings.ReplaceAll(text, "{platform}", platform)
}
