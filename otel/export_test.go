package nsalinkotel

import (
	"context"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/uspsbiz"
)

// Unexported names the external tests use.

// ScanOnce runs one scan of ScanLinks.
func (o *Observer) ScanOnce(ctx context.Context, store linking.Store, maxLinks int) {
	o.scan(ctx, store, maxLinks)
}

// SetAfterScan sets a function ScanLinks calls after each scan.
func (o *Observer) SetAfterScan(fn func()) { o.afterScan = fn }

// RefreshOutcome is refreshOutcome.
func RefreshOutcome(c uspsbiz.Call) string { return refreshOutcome(c) }

// ObserveLabel is the label hook LinkerOptions installs.
func (o *Observer) ObserveLabel(ctx context.Context, ev linking.LabelEvent) { o.observeLabel(ctx, ev) }
