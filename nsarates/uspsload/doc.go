// Package uspsload builds and checks nsarates tables from USPS's own
// contract prices. It lives apart from nsarates so that the rate engine
// stays pure: this package is the one that talks to USPS.
//
// # Loading a table
//
// A [Loader] asks the Domestic Prices API (uspsbiz.Client.BaseRates) for one
// customer's contract price of every cell of a [Plan]: products × zones ×
// weight tiers. Each call prices the tier's upper bound in a small box
// ([Config.Box]) so that dimensional weight and size fees never apply.
//
// USPS prices by ZIP Code pair, not by zone, so [Config.Zones] names one
// origin/destination pair per zone. The caller must pick pairs that fall in
// each zone of USPS's real zone chart (the fake USPS uses
// uspsbiztest.Zone). The loader checks the zone USPS reports with each
// price and stops, naming the cell, when a pair is in another zone.
//
// USPS allows about 60 price calls an hour, so a full grid takes many runs.
// Loading is resumable: a [Checkpoint] records every cell done, with its
// outcome. [Config.Save] persists it after each cell; a run that stops (the
// client's call budget ran out, [Config.MaxCalls] was reached, the context
// ended, USPS failed) returns its [Result] with the error, and the next
// [Loader.Load] with the saved checkpoint carries on without fetching a done
// cell again.
//
// A price that comes back with warning 001 ("Contract rate not found for
// request. Published rate returned.") is a published price: it is never
// stored as a contract price. Such cells, and cells USPS has no price or no
// contract for, are reported in [Result.Missing] and left out of the table,
// so the pricer falls back for them and says so.
//
// With Config.Published (and no account) a load fetches USPS's published
// commercial prices instead, cell by cell and resumable the same way: a
// real fallback table for the Pricer.
//
// # What a cell stores
//
// A base-rates answer has totalBasePrice ("the total price, including the
// rate, fees and pound postage") and rates[], each with its price ("the
// postage price"), fees[], and the weight and dimWeight USPS priced (the
// greater is used). A cell stores the postage USPS charges for the tier:
// the sum of rates[].price, without fees (a table keeps fees as
// nsarates.Fee records; the small Config.Box never incurs them). The load
// refuses an answer whose totalBasePrice is not that sum plus the fees
// (uspsbiz.ErrMalformedResponse), and one whose priced weight is above the
// tier (rounded up to the pound, as USPS reports pounds): an error naming
// the cell and its weight, since that price belongs to a heavier tier. Either
// way nothing is stored for the cell.
//
// Not loaded: cubic tiers (USPS prices them by box size, so each tier
// needs a box of that volume) and zone 00 (destination entry needs an
// entry facility, not a ZIP pair). Tables with them come from a CSV file.
//
// # Checking a table
//
// [Loader.SpotCheck] samples N cells of an existing table, fetches them from
// USPS and reports the drift: cells whose USPS contract price differs (both
// prices) and cells USPS has no contract price for.
//
// # Secrets
//
// The EPS account number lets its holder pay postage, so errors, logs and
// checkpoints carry only its last four digits.
package uspsload
