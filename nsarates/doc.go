// Package nsarates prices USPS shipments locally from Negotiated Service
// Agreement (NSA, "contract") rate tables, and says where each price came
// from.
//
// USPS allows about 60 price calls per hour (docs/usps.md#quotas) and files NSA
// price schedules under seal (docs/usps.md#price-structure-and-nsas), so a platform keeps each customer's
// contract prices as a table, keyed by the EPS account the contract is
// configured in, and prices every label from it. The package is pure: no
// network, no USPS client. Tables come from a CSV rate file ([ReadCSV]), from
// code ([Builder]; the USPS loader builds them cell by cell), or from another
// table by a discount ([Table.Derive]).
//
// docs/pricing-rules.md at the module root gives the rules by mailing date
// with their sources and a table of worked cases checked by the tests.
//
// # Tables
//
// A [Table] holds products × zones × tiers and fees, with an ID, a version,
// the EPS account it belongs to and effective dates [from, to). A product is
// a [ProductKey]: mail class, rate indicator (SP, DR, DN, C1–C5, soft-pack
// P5…Q0, flat-rate codes …) and processing category, as in USPS's Domestic
// Prices API (docs/usps.md#prices-request-fields). Zones are 01–09 plus 00 for
// destination-entry prices. Tiers are weight tiers (ounce tiers under a pound
// where the product has them, then pounds), cubic tiers (0.1–1.0 cubic
// feet) or soft-pack tiers (cubic tiers chosen by length plus width).
// Nonstandard length and volume fees are data ([Fee]).
//
// # Units
//
// Nothing is a float and no map is keyed by one. The units are package
// [usps]'s:
//
//   - Money: [usps.Cents] (int64), read with [usps.ParseCents]: dollar strings
//     are parsed exactly; more than two decimals, signs, exponents and NaN
//     are errors. A table cell is at most [usps.MaxCents].
//   - Weight: [usps.Weight] in hundredths of an ounce (1 lb = 1600), which
//     holds 0.1 oz, 0.01 oz, 0.01 lb and the 15.99 oz tier exactly.
//   - Size: [usps.Dimension] in thousandths of an inch (1 in = 1000), which
//     holds eighths, quarter inches and two-decimal inches exactly. Volumes
//     are computed in (1/1000 in)³ so that no division happens before a
//     comparison.
//
// # Dates and rule sets
//
// USPS changes prices and rules at midnight Central time, so every date in
// the package is a calendar day in America/Chicago ([Central]; the zone
// database is embedded). A shipment's mailing date is the calendar date of
// [Shipment.Date] (zero: today in Central time by the pricer's clock,
// [WithClock]); a table applies from the day of EffectiveFrom up to, not
// including, the day of EffectiveTo; CSV dates are "2006-01-02".
//
// Billable-weight, tier and size rules are data ([Rules]) grouped in dated
// [RuleSet]s. Each quote uses the newest set whose EffectiveFrom is on or
// before its mailing date, chosen by comparing integer day numbers, and
// names it in [Quote.RuleSet]; a date past the newest set's KnownThrough is
// priced and flagged ([Quote.PastHorizon]). [DefaultRuleSets] ships two
// sets; [WithRuleSet] adds or replaces one, [WithRules] uses one for all
// dates.
//
// # Rules
//
// The default sets and their sources. [FR] is a Federal Register document
// read in its primary text, [API] USPS's prices OpenAPI file, [P-hist] a
// primary USPS text older than 2019 (DMM Advisory 2006-10-30,
// cns.usps.com), [3P] third-party material quoting USPS: a lead, not a
// fact. The body of FR 2026-09785 could not be read, so its numbers are
// [3P]. docs/pricing-rules.md has the same table with worked cases.
//
//	rule                  usps-2019-06-23             usps-2026-07-12        source
//	DIM classes           PM, PME, GA, PS (SP PA DR DN) same                 PM/PME [3P] DMM 123; GA [3P] DMM 283;
//	                                                                         PS [3P] DMM 253.1.3; 2026 scope [FR] 2026-09785
//	DIM threshold         over 1,728 in³              same                   [P-hist] DMM Advisory 2006
//	DIM sides             nearest inch, half up       any fraction up        2019 [P-hist] DMM Advisory 2006 ("20-1/4 inches is
//	                                                                         considered 20 inches"); 2026 [3P] FR 2026-09785 as quoted
//	DIM divisor           166                         139                    2019 [3P] formaxdirect, iosconnect;
//	                                                                         2026 [3P] FR 2026-09785 as quoted (thelogisticnews)
//	DIM pounds            fraction up                 same                   [P-hist] DMM Advisory 2006
//	non-rectangular (DN)  volume × 0.785 first        same                   [P-hist] cns.usps.com; [3P] DMM 123.1.4.2c
//	DIM over 70 lb        pays the 70 lb price        same                   [P-hist] cns.usps.com; [3P] DMM 123.1.4.2e
//	weight limit          70 lb (LimitError)          same                   [3P] DMM 201 as quoted
//	length + girth        108 in; GA, PS 130 in       same                   [3P] DMM 201 as quoted
//	GA, PS oversized      108–130 in: OS product      same                   [3P] DMM 253 as quoted; OS [API]
//	                      (same category), first
//	                      tier, any weight
//	cubic sides           down to ¼ in, volume up     same                   [3P] DMM 223.1.3.3 as scraped
//	                      to the next 0.1 ft³
//	cubic maximum         20 lb; PM 0.5, GA 1.0 ft³   same                   C1–C5 [API]; GA 1.0 [3P] ShippingEasy
//	cubic longest side    18 in                       22 in                  2019 [3P] DMM 223; 2026 [3P] PostalPro plan
//	                                                                         ([FR] has a "Priority Mail Cubic Maximum" section)
//	PM soft pack          L+W ≤ 21 27 31 34 36 in     same                   [3P] easypost; DMM 223.1.3.4 as scraped
//	                      → 0.1–0.5 ft³
//	GA soft pack          no bounds known             PM's bounds            2019 tiers P5…Q0 [API], bounds not found;
//	                      (ReasonNoRule)                                     2026 [3P] PostalPro plan
//	nonstandard fees      table data ([Fee])          same                   amounts per table (Notice 123)
//
// The issue that asked for dated rules said the old rule used exact sides;
// the primary text found says "round off to the nearest whole inch", so the
// 2019 set rounds off ([SidesExact] stays available to hosts).
//
// A weight-tier product's billable weight is the actual weight, or the DIM
// weight if larger, then rounded up to the tier: the first tier whose upper
// bound is at least that weight. Cubic and soft-pack products are priced by
// tier of volume, oversized products by zone alone; their billable weight is
// the actual weight. A parcel over a limit gets a *[LimitError] naming the
// field; it never falls back to another table.
//
// # Quotes and fallback
//
// A [Pricer] holds one contract table per EPS account plus a published
// commercial table and, optionally, a retail table. [Pricer.Quote] tries the
// shipment's contract table, then commercial, then retail, and returns the
// price with its [Source], the table's ID and version, the billable weight,
// zone and tier. When the contract table did not price it, the quote's
// Fallback says why: no table, product not covered, outside the effective
// dates, beyond the table (weight or cubic tier above its last tier), or a
// missing cell. When no table can price it, the error is a *[NoRateError]
// with the reason for each.
//
// # Derived tables and rounding
//
// [Table.Derive] takes a discount in basis points. A cell is
// round_half_up(base × Π(10000 − bpᵢ) / 10000ⁿ) over every discount chained
// from the undiscounted base table, in integer arithmetic, rounded once (a
// table derived from a derived table does not round twice; half a cent
// rounds up). A minimum price and a floor table raise a cell, but never
// above its undiscounted base price unless the discount says so
// ([Discount.FloorAboveBase]). This is the only rounding in the package.
//
// # Speed
//
// Installing a table compiles it: products, zones and tiers become small
// integers and prices sit in a dense array. Product and account strings are
// resolved once into [ProductID] and [AccountID] handles (see
// [Pricer.Product] and [Pricer.Account]); a [Shipment] carries the handles, so
// a quote does no map lookup, string work or allocation. Rules are resolved
// per rule set when a table is installed, so a quote only indexes by the
// set its mailing day picked. Each account's
// compiled table sits behind an atomic pointer: [Pricer.SetContract] swaps it
// while quotes run, and each quote reads one consistent table.
// BENCHMARKS.md at the module root gives the measured cost per quote and per table.
package nsarates
