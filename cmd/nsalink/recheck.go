package main

import (
	"flag"
	"fmt"

	"github.com/nsalink/nsalink/linking"
)

func recheckCommand() command {
	return command{
		name: "recheck", args: "ID", nargs: 1, summary: "re-check a pending link with USPS now",
		detail: `
Runs the reconciler's check (linking.Linker.Verify) on the link of platform
account ID now, instead of at its next scheduled check: a payment
authorization with the roles of the hosts' payment model (-payer,
-platform-eps, -returns), then a contract-price probe
(linking's default, 1 lb Priority Mail from 10001 to 94105, unless -probe
gives the one the hosts configure with linking.WithContractProbe). Only links in
approval_pending, or in action_required for a reason the customer fixes at
USPS (epa_not_active, no_payment_method, payment_method_not_active,
card_trouble, insufficient_funds), are checked; any other link is left alone
and the command exits 1.

It needs the platform's USPS app and the sealing keys (to open the
customer's token):
  NSALINK_USPS_CLIENT_ID or -client-id        the Consumer Key
  NSALINK_USPS_CLIENT_SECRET                  the Consumer Secret (environment only)
  NSALINK_PLATFORM_CRID or -platform-crid     the platform's CRID
  NSALINK_PAYER, NSALINK_PLATFORM_EPS, NSALINK_RETURNS (or the flags)
                                              the hosts' payment model
  NSALINK_SEAL_KEYS, NSALINK_SEAL_PRIMARY     the sealing keys (see rotate-key -h)
The USPS host is the one the link's tokens were issued for; -usps-env (or
NSALINK_USPS_ENV), when given, must agree with it.

A re-check spends two or three USPS calls of the quota the fleet shares.
Exit 1 when USPS could not be asked (the link stays pending and the
reconciler tries again).`,
		setup: func(e *env, fs *flag.FlagSet) func([]string) error {
			db := dbFlag(fs)
			uf := declareUSPS(fs)
			return func(args []string) error {
				s, err := e.store(*db)
				if err != nil {
					return err
				}
				defer s.Close()
				before, err := getLink(e.ctx, s, args[0])
				if err != nil {
					return err
				}
				if !recheckable(before) {
					return fmt.Errorf("link %s is %s%s: only approval_pending links and action_required ones the customer fixes at USPS are re-checked; nothing changed",
						quoteID(before.AccountID), before.State, reasonSuffix(before.Reason))
				}
				linker, err := e.linkerFor(uf, s, before)
				if err != nil {
					return err
				}
				st, verr := linker.Verify(e.ctx, before.AccountID)
				if st.AccountID != "" {
					fmt.Fprintf(e.stdout, "%s: %s%s -> %s%s\n", quoteID(before.AccountID), before.State, reasonSuffix(before.Reason),
						st.State, reasonSuffix(st.Reason))
					if st.LastError != "" {
						fmt.Fprintf(e.stdout, "last error: %s\n", clean(st.LastError))
					}
					if !st.NextCheckAt.IsZero() {
						fmt.Fprintf(e.stdout, "next check: %s\n", fmtTime(st.NextCheckAt))
					}
				}
				if verr != nil {
					return fmt.Errorf("re-check of %s did not finish: %w", quoteID(before.AccountID), verr)
				}
				return nil
			}
		},
	}
}

// recheckable mirrors what Linker.Verify checks (it is a silent no-op on
// other links), so that the operator hears why nothing happened.
func recheckable(l *linking.Link) bool {
	switch l.State {
	case linking.StateApprovalPending:
		return true
	case linking.StateActionRequired:
		switch l.Reason {
		case linking.ReasonEPANotActive, linking.ReasonNoPaymentMethod, linking.ReasonPaymentMethodNotActive,
			linking.ReasonCardTrouble, linking.ReasonInsufficientFunds:
			return true
		}
	}
	return false
}

func reasonSuffix(r linking.Reason) string {
	if r == linking.ReasonNone {
		return ""
	}
	return " (" + clean(string(r)) + ")"
}
