// Package nsarates prices USPS shipments locally from Negotiated Service
// Agreement (NSA, "contract") rate tables, and says where each price came
// from.
//
// USPS allows about 60 price calls per hour (REFERENCE.md §10) and files NSA
// price schedules under seal (§12), so a platform keeps each customer's
// contract prices as a table, keyed by the EPS account the contract is
// configured in, and prices every label from it. The package is pure: no
// network, no USPS client. Tables come from a CSV rate file ([ReadCSV]), from
// code ([Builder]; the USPS loader builds them cell by cell), or from another
// table by a discount ([Table.Derive]).
//
// # Tables
//
// A [Table] holds products × zones × tiers and fees, with an ID, a version,
// the EPS account it belongs to and effective dates [from, to). A product is
// a [ProductKey]: mail class, rate indicator (SP, DR, DN, C1–C5, soft-pack
// P5…Q0, flat-rate codes …) and processing category, as in USPS's Domestic
// Prices API (REFERENCE.md §5.2). Zones are 01–09 plus 00 for
// destination-entry prices. Tiers are either weight tiers (ounce tiers under a
// pound where the product has them, then pounds) or cubic tiers (0.1–0.5 cubic
// feet). Nonstandard length and volume fees are data ([Fee]).
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
// # Billable weight and tiers
//
// [Rules] are data with documented defaults ([DefaultRules] cites its sources
// in REFERENCE.md §12):
//
//   - Weight tiers: the billable weight is the actual weight, or the
//     dimensional weight L×W×H/166 rounded up to the next pound if that is
//     larger, for parcels over 1,728 in³ of the classes DIM applies to
//     (Priority Mail and Priority Mail Express by default; USPS Ground
//     Advantage can be added). It is then rounded up to the tier: the first
//     tier whose upper bound is at least that weight.
//   - Cubic tiers: each side is rounded down to the quarter inch, the volume
//     in cubic feet is rounded up to the next tenth, and the tier is the first
//     that holds it. Cubic pricing takes parcels up to 20 lb and 0.5 cu ft.
//   - Limits: 70 lb and 108 in length plus girth (130 in for Ground
//     Advantage and Parcel Select) by default. A parcel over a limit gets a
//     *[LimitError] naming the field; it never falls back to another table.
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
// [Table.Derive] takes a discount in basis points, applied cell by cell as
// round_half_up(price × (10000 − bp) / 10000) in integer arithmetic (half a
// cent rounds up), then raised to a minimum price and to a floor table where
// either is given. This is the only rounding in the package.
//
// # Speed
//
// Installing a table compiles it: products, zones and tiers become small
// integers and prices sit in a dense array. Product and account strings are
// resolved once into [ProductID] and [AccountID] handles (see
// [Pricer.Product] and [Pricer.Account]); a [Shipment] carries the handles, so
// a quote does no map lookup, string work or allocation. Each account's
// compiled table sits behind an atomic pointer: [Pricer.SetContract] swaps it
// while quotes run, and each quote reads one consistent table.
// BENCHMARKS.md at the module root gives the measured cost per quote and per table.
package nsarates
