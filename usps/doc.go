// Package usps holds the value types every other nsalink package uses for
// USPS's money, weights, sizes and customer identifiers. It imports only the
// standard library, and nothing in it is a float.
//
//	Type          Unit / form                         Parse                           Limit
//	Cents         US cents (int64)                    ParseCents, Cents.UnmarshalJSON MaxCents ($9,999,999.99)
//	Weight        1/100 oz (1 lb = 1600)              ParseWeight, ParseJSONPounds
//	Dimension     1/1000 in (1 in = 1000)             ParseDimension                  MaxDimension (1000 in)
//	CRID          2–18 digits                         ParseCRID
//	MID           6 digits (0-8…) or 9 digits (9…)    ParseMID, ParseManifestMID
//	EPSAccount    10 digits, redacted when printed    ParseEPSAccount
//
// # Two parsing rules for numbers
//
// What a person or a rate table writes is parsed strictly: [ParseCents],
// [ParseWeight] and [ParseDimension] take plain decimals ("9.35",
// "15.99oz", "4.875") and reject signs, exponents and digits finer than the
// unit; nothing is rounded.
//
// What USPS's APIs send is a JSON number that a USPS system may have
// printed from a binary float (0.30000000000000004). [Cents.UnmarshalJSON]
// and [ParseJSONPounds] accept the JSON number grammar, exponents included,
// and round anything finer than the unit half up, so that such a value lands
// on the cent or hundredth of an ounce it meant. Every number error is a *[NumberError].
//
// # Units
//
// A [Weight] in hundredths of an ounce holds every ounce tier (15.99 oz),
// 0.1 oz scale readings and 0.01 lb exactly; USPS's pounds are
// [Weight.Pounds]. A [Dimension] in thousandths of an inch holds both the
// eighths a tape measure reads (4.875 in) and the two-decimal inches of
// price lists; its String is the inches USPS's APIs take.
//
// # Identifiers
//
// [ParseCRID], [ParseMID] and [ParseEPSAccount] accept what a customer
// pastes (spaces and dashes are removed) and return the canonical digits or
// a *[FieldError] matching [ErrInvalidIdentifier]. An [EPSAccount] lets
// whoever holds it pay postage from the customer's account, so every
// formatting path shows only its last four digits; [EPSAccount.Reveal]
// returns the number.
package usps
