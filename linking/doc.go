// Package linking runs the flow that links a platform account to its
// customer's USPS Business Account, so that the customer keeps their NSA
// contract rates.
//
// # The flow
//
// A Linker moves each account through the states of docs/design.md:
//
//	unlinked → authorizing → awaiting credentials → approval pending → active
//	(and action required, with a Reason, from any of the later ones)
//
// The steps:
//
//   - Start returns the USPS Customer Onboarding Platform URL. Its state is
//     random, single-use, bound to the browser session, the account and the
//     USPS environment, and expires after 10 minutes; PKCE S256 is on.
//   - Callback redeems the COP redirect: the state is consumed before it is
//     checked, the code is exchanged once, and the sealed tokens are stored
//     before it returns, even if the browser goes away meanwhile. A
//     rejected callback is a *CallbackError with a fixed Code.
//   - SubmitCredentials checks CRID, MID, manifest MID and EPS number,
//     and the optional returns MID, NSA contract number and labelled
//     Locations (further MIDs and EPS accounts, e.g. per warehouse); a
//     *CredentialsError names every bad field and changes nothing. Then
//     Verify asks USPS (these business rules live here, not in uspsbiz),
//     for the default account and each location: a payment authorization
//     with the roles of the Linker's PaymentModel (WithPaymentModel: the
//     customer's EPS account as PAYER and RATE_HOLDER, or the platform's
//     own EPS account as PAYER and the customer's as RATE_HOLDER only, and
//     with Returns the RETURN_LABEL_ roles with the returns MID; EPA
//     missing, ACH pending, no payment method … become action required
//     with a Reason, but an unfunded rate card is fine when the platform
//     pays), then a contract-price probe with the customer's token
//     (CONTRACT: active; warning 001 or 160212: still pending).
//   - Reconcile, run hourly on every instance, re-checks pending links with
//     backoff, keeps every linked customer's token alive (a refresh once
//     fewer than 2 of its 7 days are left), re-checks idle active links'
//     payment accounts daily (each location's too, with the payment model's
//     roles), retries unfinished revocations and deletes
//     expired authorization requests, inside the USPS quota the fleet shares
//     (uspsbiz.WithQuota); a leased Store claim keeps two instances off the
//     same link, and verdicts are written with compare-and-swap.
//
// Callback, Verify and SubmitCredentials return a Status: what a host
// shows, never the stored record with its sealed tokens.
//
// Every transition is checked against the transition table, written with
// compare-and-swap together with its audit Event (Store.Events lists them),
// and passed to the hooks of WithTransitionHook.
//
// # Tokens
//
// TokenSource gives a customer's token for uspsbiz.Client.ForMerchant. It
// refreshes under the Store's per-link lock (PostgreSQL row lock, SQLite
// BEGIN IMMEDIATE, a mutex in memory): it re-reads the link, adopts a token
// another process already refreshed, and otherwise refreshes once and saves
// the rotated token before anyone uses it (a refreshed token whose save
// failed is kept by the Linker and saved before any other refresh of that
// link, not refreshed again). A final invalid_grant or
// invalid_refresh_token (say, after a USPS password reset), or a 401 right
// after a successful refresh, moves the link to action required with
// ReasonTokenRevoked, and the error matches
// uspsbiz.ErrReauthorizationRequired. PaymentToken caches the payment
// authorization token for its 8 hours the same way; when USPS refuses the
// customer's payment account (EPA codes 100001–100007, CRID or MID no
// longer enrolled) the link leaves active with the reason
// (*ActionRequiredError) and the reconciler brings it back once fixed.
//
// Tokens are sealed at rest by a Sealer (NewAESGCMSealer: AES-256-GCM with
// key ids for rotation, and the account id as associated data, so that a
// token moved to another row does not open).
//
// # Stores
//
// Store is implemented by linking/memstore (tests, one process) and
// linking/sqlstore (SQLite, the embedded default; PostgreSQL for fleets).
// linking/storetest.Run is the conformance suite; run it on your own Store,
// which linking/storekit helps to write. A Store returns what it stored and
// never modifies the values passed in.
//
// # Hosting
//
// Handler serves the flow's HTTP API (status with banner, pop-up and
// guideline steps as JSON; start; callback; credentials; unlink) for a host
// to mount; View and DefaultGuidance() give the same content to a host that
// renders its own pages. Quote prices labels with nsarates, at NSA rates
// only while the link is active.
//
// # Labels
//
// BuyLabel buys a label on the customer's EPA exactly once per purchase id:
// the purchase (idempotency key, request hash, body) is recorded in the
// Store (a LabelStore) before USPS is called, and any unknown outcome is
// finished by resending the same body under the same key (BuyLabel again,
// or ResumeLabels on any instance). The label's postage, SKU and zone are
// compared with the NSA quote it expects: a difference is a
// *PriceMismatchError returned with the label, a LabelEvent (WithLabelHook)
// and a warning log. CancelLabel voids before the manifest cutoff and files
// a refund request after it.
//
// # Rate tables and the hot path
//
// With WithTables, the Store (which must implement TableStore, as memstore
// and sqlstore do) is the home of the rate tables: the published commercial
// table (SetCommercialTable) and one contract table per account, with their
// versions, effective dates, cells and fees; SyncCommercialTable loads the
// published one from USPS's prices API. A link that becomes active gets
// its table from the TableSource: ContractCSV (the platform's contract
// file) or ContractFromUSPS (USPS's prices API with the customer's token,
// resumable through a checkpoint in the Store, one instance at a time under
// a lease). RunSync, on every instance, installs every stored table into
// the Pricer at start and follows the Store's change feed (TableStore.Changes,
// filled by every link and table write; on PostgreSQL a NOTIFY wakes it), so
// a restart loses no table and makes no USPS call to get it back.
//
// While RunSync runs, Quote and a cached PaymentToken read link state from an
// in-process cache: no store round trip and no allocation. The process that
// changes a link drops its entry before the change returns; other processes
// drop it when they read the feed, within WithCacheStaleness (default 1 s).
// When the feed cannot be read for longer than that, the cache turns itself
// off and every call reads the Store. A quote that is not at the NSA price
// says why (Quote.NotNSA), and Status.Table shows the table's id, version,
// coverage and last sync.
package linking
