package usps

// ParseJSONCents lets the external tests check Cents.UnmarshalJSON's rules
// on raw text, without JSON quoting in the way.
var ParseJSONCents = parseJSONCents
