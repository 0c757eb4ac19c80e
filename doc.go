// Package nsalink is a Go SDK for shipping platforms whose customers must
// link their USPS Business Account to keep their Negotiated Service
// Agreement (NSA) contract rates.
//
// USPS requires every NSA customer of a hosted shipping product to grant
// that product access through its Customer Onboarding Platform (COP). The
// customer signs in to USPS (with MFA), authorizes the platform, comes back
// and enters CRID, MID and EPS number, and waits in "USPS business account
// approval pending" until the link is active. A link that is not active
// never prices at NSA rates.
//
// The SDK is organised as:
//
//   - uspsbiz: typed client of the USPS APIs 3.0 (OAuth and the COP, Payments,
//     Domestic Prices, Tracking), with retries tuned to USPS's quotas.
//   - uspsbiz/uspsbiztest: a fake USPS over real HTTP, for tests and demos.
//   - nsarates: the NSA rate engine: rate tables, billable weight, a
//     compiled form for fast quotes, CSV import and export. Pure: no network.
//   - linking: the linking flow as a state machine per platform account, its
//     stores (memory, SQLite, PostgreSQL), sealed tokens, HTTP handlers for
//     the host and a reconciler for pending links.
//   - cmd/nsalink: the operator CLI (links by state and reason, one link's
//     audit trail, re-check, key rotation, quota) on SQLite or PostgreSQL.
//   - examples (a module of its own, so its dependencies stay out of this
//     one): runnable programs, starting with examples/linkdemo.
//
// This root package holds no code; see README.md for the five-minute guide.
package nsalink
