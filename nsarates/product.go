package nsarates

import (
	"fmt"
	"strings"

	"github.com/nsalink/nsalink/internal/decimal"
	"github.com/nsalink/nsalink/usps"
)

// Mail classes used by the default rules (USPS spelling, docs/usps.md#prices-request-fields).
// Any other class in USPS spelling is accepted in tables.
const (
	mailClassPriority        = "PRIORITY_MAIL"
	mailClassPriorityExpress = "PRIORITY_MAIL_EXPRESS"
	mailClassGroundAdvantage = "USPS_GROUND_ADVANTAGE"
	mailClassParcelSelect    = "PARCEL_SELECT"
)

// ProductKey names a product as USPS prices it: mail class, two-character
// rate indicator (SP, DR, DN, C1–C5, CP, P5…Q0, flat-rate codes …) and
// processing category (MACHINABLE, NONSTANDARD, SOFT_PACK_MACHINABLE …).
// See docs/usps.md#prices-request-fields.
type ProductKey struct {
	MailClass          string
	RateIndicator      string
	ProcessingCategory string
}

// String formats k as "MAIL_CLASS/RI/CATEGORY".
func (k ProductKey) String() string {
	return k.MailClass + "/" + k.RateIndicator + "/" + k.ProcessingCategory
}

func (k ProductKey) validate() error {
	if !isUSPSWord(k.MailClass, "_-") {
		return &ValidationError{Field: "MailClass", Value: k.MailClass, Reason: "want upper-case USPS spelling such as PRIORITY_MAIL"}
	}
	if len(k.RateIndicator) != 2 || !isUSPSWord(k.RateIndicator, "") {
		return &ValidationError{Field: "RateIndicator", Value: k.RateIndicator, Reason: "want two upper-case letters or digits such as SP or C3"}
	}
	if !isUSPSWord(k.ProcessingCategory, "_") {
		return &ValidationError{Field: "ProcessingCategory", Value: k.ProcessingCategory, Reason: "want upper-case USPS spelling such as MACHINABLE"}
	}
	return nil
}

func (k ProductKey) less(o ProductKey) bool {
	if k.MailClass != o.MailClass {
		return k.MailClass < o.MailClass
	}
	if k.RateIndicator != o.RateIndicator {
		return k.RateIndicator < o.RateIndicator
	}
	return k.ProcessingCategory < o.ProcessingCategory
}

// isUSPSWord reports whether s is 1–64 characters of A–Z, 0–9 and extra.
func isUSPSWord(s, extra string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// TierKind says how a product's tiers are chosen.
type TierKind uint8

// Tier kinds.
const (
	// WeightTiers are chosen by billable weight: the first tier whose upper
	// bound is at least the billable weight.
	WeightTiers TierKind = iota + 1
	// CubicTiers are chosen by cubic volume in tenths of a cubic foot
	// (USPS tiers 0.1–0.5, rate indicators C1–C5; Ground Advantage to 1.0).
	CubicTiers
	// SoftPackTiers are cubic tiers of soft packs and padded envelopes, in
	// tenths of a cubic foot, chosen by length plus width as the rule set's
	// [SoftPackRule] says (USPS soft-pack tiers 1–10, rate indicators
	// P5…Q0).
	SoftPackTiers
)

// Tier is one price column of a product: an inclusive upper bound, in
// [usps.Weight] units for weight tiers and in tenths of a cubic foot for cubic
// tiers. Tier{WeightTiers, 4 * usps.Ounce} is the "up to 4 oz" tier;
// Tier{CubicTiers, 3} is the 0.3 cubic-foot tier.
type Tier struct {
	Kind TierKind
	Max  int64
}

// Tier limits accepted in tables.
const (
	maxTierWeight = 150 * usps.Pound // generous: rules cap shipments at 70 lb by default
	maxTierCubic  = 100              // tenths of a cubic foot
	maxTiers      = 255              // tiers per product; the compiled index is a byte
)

// WeightTier is the weight tier with upper bound w.
func WeightTier(w usps.Weight) Tier { return Tier{Kind: WeightTiers, Max: int64(w)} }

// CubicTier is the cubic tier with upper bound tenths/10 cubic feet.
func CubicTier(tenths int) Tier { return Tier{Kind: CubicTiers, Max: int64(tenths)} }

// SoftPackTier is the soft-pack tier of tenths/10 cubic feet.
func SoftPackTier(tenths int) Tier { return Tier{Kind: SoftPackTiers, Max: int64(tenths)} }

// String formats t as in CSV files: "4oz", "15.99oz", "2lb", "0.3cuft",
// "0.3softpack".
func (t Tier) String() string {
	switch t.Kind {
	case WeightTiers:
		return usps.Weight(t.Max).String()
	case CubicTiers:
		return fmt.Sprintf("%d.%dcuft", t.Max/10, t.Max%10)
	case SoftPackTiers:
		return fmt.Sprintf("%d.%dsoftpack", t.Max/10, t.Max%10)
	}
	return fmt.Sprintf("Tier(%d,%d)", t.Kind, t.Max)
}

// ParseTier parses a tier as [Tier.String] formats it. Weights may be given
// in ounces or pounds ("16oz" and "1lb" are the same tier); cubic and
// soft-pack tiers take one decimal ("0.3cuft", "0.3softpack").
func ParseTier(s string) (Tier, error) {
	var t Tier
	if num, ok := strings.CutSuffix(s, "softpack"); ok {
		v, err := decimal.Parse(num, 1)
		if err != nil {
			return Tier{}, &usps.NumberError{Input: s, Err: err}
		}
		t = Tier{Kind: SoftPackTiers, Max: v}
	} else if num, ok := strings.CutSuffix(s, "cuft"); ok {
		v, err := decimal.Parse(num, 1)
		if err != nil {
			return Tier{}, &usps.NumberError{Input: s, Err: err}
		}
		t = Tier{Kind: CubicTiers, Max: v}
	} else {
		w, err := usps.ParseWeight(s)
		if err != nil {
			return Tier{}, err
		}
		t = WeightTier(w)
	}
	if err := t.validate(); err != nil {
		return Tier{}, &usps.NumberError{Input: s, Err: usps.ErrRange}
	}
	return t, nil
}

func (t Tier) validate() error {
	switch {
	case t.Kind == WeightTiers && t.Max > 0 && t.Max <= int64(maxTierWeight):
		return nil
	case t.Kind == CubicTiers && t.Max > 0 && t.Max <= maxTierCubic:
		return nil
	case t.Kind == SoftPackTiers && t.Max > 0 && t.Max <= 10:
		return nil
	}
	return &ValidationError{Field: "Tier", Value: t.String(), Reason: "want a weight tier in (0, 150lb], a cubic tier in (0, 10cuft] or a soft-pack tier in (0, 1.0]"}
}
