// Package uspsbiztest is an in-process fake of the USPS APIs 3.0 that
// nsalink needs, served over real HTTP on loopback (httptest), for tests,
// examples and demos — ours and our users'. It has no test-framework
// dependency: NewServer takes anything with Helper, Cleanup and Fatalf.
//
// # What it fakes
//
//   - OAuth 2.0 (POST /oauth2/v3/token, /oauth2/v3/revoke): client
//     credentials for registered apps (WithApp), the authorization-code
//     grant with optional PKCE (S256 only), refresh, and RFC 7009 revoke
//     with HTTP Basic client authentication. Token bodies are accepted as
//     form or JSON. Responses carry USPS's extra fields (issued_at in ms,
//     status, issuer, api_products, refresh_count, …), as JSON numbers or,
//     with WithStringNumbers, as strings like USPS's README examples.
//   - The Customer Onboarding Platform: /cop-navigator and plain HTML pages
//     for sign-in, MFA, the agreement box and "Authorize and Continue",
//     then a success page whose "Go to <platform>" link carries code and
//     state. Server.Authorize walks them over HTTP; a browser can too.
//   - Payments: GET /payments/v3/payment-account/{n} and POST
//     /payments/v3/payment-authorization with the role rules and codes of
//     docs/usps.md#payment-authorization (160218–160229, 160227 duplicates, 160289/160290
//     METER, 160372, 160390; EPA codes 100001–100007; LABEL_OWNER CRID and
//     MID enrollment against the seeded BusinessAccount; the PLATFORM CRID
//     against App.CRID). EPAs live on business accounts (BusinessAccount.EPAs
//     or AddEPA) in the states of EPAState, including pending ACH with two
//     micro-debits that VerifyMicroDebits confirms.
//   - Domestic Prices: POST /prices/v3/base-rates/search,
//     base-rates-list/search and total-rates/search over seedable tables:
//     SetPublishedPrices, SetContractPrices (per EPS account, priceType
//     CONTRACT with their own SKUs), SetExtraServicePrices and
//     SetContractOnlyMailClasses. Prices are written verbatim from their
//     decimal text, so a test can serve 0.30000000000000004 or 1e2.
//   - Tracking: GET /tracking/v3/tracking/{n}?expand=SUMMARY|DETAIL and the
//     batch POST /tracking/v3r2/tracking over packages seeded with
//     AddTracking.
//   - Domestic Labels: POST /labels/v3/label (multipart answer, 200 as
//     USPS really answers), DELETE /labels/v3/label/{n} and POST
//     /labels/v3/label-reprint/{n}, with the idempotency-key rule (same key
//     and payload: the same label, no charge; another payload: an error),
//     the manifest clock (void before 12:30 am Central after the mailing
//     date, or 15 minutes with immediate manifest; a refund request after),
//     and every charge recorded (LabelCharges, ChargedLabels).
//     InjectLabelFault loses the answer after the charge (a hang or a
//     dropped connection) or bills the published price.
//   - Quotas: SetQuota per resource API answer USPS's 429 body
//     (docs/usps.md#quotas, with source.APIProduct) and Retry-After.
//   - Faults (InjectFault): statuses with USPS or gateway bodies, malformed
//     JSON, latency, dropped connections, invalid_grant; a controllable
//     clock (WithTime, SetTime, Advance); recorded requests (Requests,
//     Count).
//
// # Where it differs from USPS
//
// Where USPS's behaviour is unknown (docs/usps.md#unconfirmed) the fake picks one
// and says so here; do not read these choices as facts about USPS.
//
//   - COP: the pages, their wording and field ids are the fake's own (only
//     "Authorize and Continue" and the MFA step are corroborated). The MFA
//     code is fixed per account (default "123456"). /oauth2/v3/authorize
//     is not served.
//   - Authorization codes live 10 minutes and are single use; reusing one
//     revokes every token it issued (RFC 6749 §4.1.2).
//   - Refresh tokens rotate by default (WithRefreshRotation(false) keeps
//     them); whether USPS rotates is unconfirmed. Reusing a rotated refresh
//     token answers invalid_grant and revokes its whole family. Access
//     tokens last 8 hours (expires_in 28799), refresh tokens 7 days.
//     RevokeAll mimics a USPS password reset.
//   - A missing scope answers 403 (USPS has been seen answering 401 "The
//     client application identifier is invalid.").
//   - Payments: both platform and merchant tokens are accepted. Structural
//     role errors are all reported together and before any account check;
//     then EPA problems and enrollment problems are reported together. The
//     codes for "CRID not found" and "MID not enrolled" (codeCRIDNotFound,
//     codeMIDNotEnrolled) are invented: USPS's are not public. EPA errors
//     are 400s (the Error Inventory lists them as such), also on the
//     payment-account lookup. A RATE_HOLDER account only has to exist;
//     PAYER, RETURN_LABEL_PAYER and LABEL_PROVIDER accounts must be
//     active. The fake has no permits, meters or PC Postage providers.
//     "Pending ACH" answering 100002 is the fake's reading of USPS's codes.
//     A PAYER or RATE_HOLDER EPS account must belong to the role's CRID
//     (invented code 169903), so a platform that pays needs a business
//     account of its own CRID holding its EPA. A RETURN_LABEL_OWNER's MID
//     must be one of the account's ReturnsMIDs, when it has any (enrolled
//     in USPS Ship Returns; 169902 otherwise). PaymentAuthorizations records every
//     authorization request with its roles and error codes, for tests
//     to assert the roles a payment model sends.
//   - A customer's (merchant) token reaches only the EPS accounts of the
//     business account that granted it: a price search or payment-account
//     lookup with another business's account number answers 403 (invented
//     code 169904). Whether USPS does so is unconfirmed; nsalink's binding
//     of typed credentials to the granting account relies on it.
//     Payment tokens are opaque strings, not JWTs.
//   - Prices: the zone chart is the Zone function, not USPS's; weight tiers
//     are Price.MaxWeight; only the fields the tables need are checked.
//     With an account number and no matching contract row, published
//     prices come back with warning 001 (as USPS documents); 160212 is
//     answered only for SetContractOnlyMailClasses classes, and
//     160207/160208 for those or for priceType CONTRACT without an
//     account. Extra services are always published prices (with warning
//     001 when an account was named). Dates on rates are fixed.
//   - Tracking: no access control (accessControl is always FREE); an
//     unknown number answers 404 with code 150002. The v3r2 batch (no
//     published spec) answers an array of detail objects, and for an
//     unknown number an item {"trackingNumber", "error": {…}} — the item
//     error shape is the fake's guess. Batches hold 1 to 35 numbers.
//   - Quotas count every call to an API in a fixed hour window starting at
//     its first call, for all apps together; OAuth calls are not limited.
//     Without SetQuota there is no limit.
//   - Every response carries X-Request-Id; no response is XML.
package uspsbiztest
