package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/nsalink/nsalink/internal/seal"
	"github.com/nsalink/nsalink/linking"
)

func rotateKeyCommand() command {
	return command{
		name: "rotate-key", args: "", summary: "re-seal every token under the primary sealing key",
		detail: `
Re-seals the customer token and payment token of every link under the primary
key (linking.RewrapAll), then counts the sealed values by key id. The keys
come from the environment only, never from flags:
  NSALINK_SEAL_KEYS="id1:BASE64,id2:BASE64"   every key (32 bytes each), by id
  NSALINK_SEAL_PRIMARY=id2                    the key to seal under (optional with one key)

The order across a fleet:
  1. give every instance the new key, not yet primary, and deploy;
  2. make it primary on every instance, and deploy;
  3. run rotate-key (with both keys): it exits 0 only when no value is left
     under another key;
  4. wait out the COP state lifetime (10 minutes by default: pending
     authorization requests are sealed too and not rewrapped), then drop the
     old key.
Rewrapping before step 2 is complete leaves instances that cannot open the
new values, and an instance still sealing under the old key shows up here as
values left under it.

-check rewrites nothing: it counts, and exits 0 only when every sealed value
is under the primary key (run it before dropping the old key). Key material
is never printed.`,
		setup: func(e *env, fs *flag.FlagSet) func([]string) error {
			db := dbFlag(fs)
			check := fs.Bool("check", false, "count only; exit 1 if any sealed value is under another key than the primary")
			return func([]string) error {
				sealer, primary, err := e.sealer()
				if err != nil {
					return err
				}
				s, err := e.store(*db)
				if err != nil {
					return err
				}
				defer s.Close()
				if !*check {
					n, err := linking.RewrapAll(e.ctx, s, sealer)
					fmt.Fprintf(e.stdout, "rewrapped %d links under key %s\n", n, primary)
					if err != nil {
						return fmt.Errorf("rotation stopped: %w", err)
					}
				}
				byKey, links, sealedLinks, err := countSealed(e, s)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "links: %d, with sealed tokens: %d\n", links, sealedLinks)
				w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "KEY\tSEALED VALUES")
				for _, id := range slices.Sorted(maps.Keys(byKey)) {
					mark := ""
					if id == primary {
						mark = " (primary)"
					}
					fmt.Fprintf(w, "%s%s\t%d\n", quoteID(id), mark, byKey[id])
				}
				if err := w.Flush(); err != nil {
					return err
				}
				left := 0
				for id, n := range byKey {
					if id != primary {
						left += n
					}
				}
				if left > 0 {
					return fmt.Errorf("%d sealed values are not under the primary key %s: keep the old keys; if an instance still seals under one, make %s primary there and run rotate-key again", left, primary, primary)
				}
				fmt.Fprintf(e.stdout, "every sealed token is under %s\n", primary)
				return nil
			}
		},
	}
}

// countSealed counts the sealed tokens of every link by the key id in their
// header (unauthenticated: RewrapAll authenticated them).
func countSealed(e *env, s linking.Store) (byKey map[string]int, links, sealedLinks int, err error) {
	byKey = map[string]int{}
	err = eachLink(e.ctx, s, func(l *linking.Link) error {
		links++
		has := false
		for _, b := range [][]byte{l.Token, l.PaymentToken} {
			if len(b) == 0 {
				continue
			}
			has = true
			id, err := seal.KeyID(b)
			if err != nil {
				id = "(unreadable)"
			}
			byKey[id]++
		}
		if has {
			sealedLinks++
		}
		return nil
	})
	return byKey, links, sealedLinks, err
}

// sealer builds the sealer of $NSALINK_SEAL_KEYS and $NSALINK_SEAL_PRIMARY. Errors name key ids and variables, never key material.
func (e *env) sealer() (linking.Rewrapper, string, error) {
	raw := e.getenv("NSALINK_SEAL_KEYS")
	if raw == "" {
		return nil, "", usagef("no sealing keys: set NSALINK_SEAL_KEYS=\"id:BASE64,…\" (read from the environment only)")
	}
	keys := map[string][]byte{}
	defer func() {
		for _, k := range keys {
			clear(k) // NewAESGCMSealer copied them into cipher state
		}
	}()
	var order []string
	for i, item := range strings.Split(raw, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok || id == "" {
			return nil, "", usagef("NSALINK_SEAL_KEYS: item %d: want id:BASE64", i+1)
		}
		if err := seal.ValidateKeyID(id); err != nil {
			return nil, "", usagef("NSALINK_SEAL_KEYS: item %d: key id must be 1 to 64 of A-Z a-z 0-9 . _ -", i+1)
		}
		if _, dup := keys[id]; dup {
			return nil, "", usagef("NSALINK_SEAL_KEYS: key %s given twice", id)
		}
		k, ok := decodeKey(b64)
		if !ok {
			return nil, "", usagef("NSALINK_SEAL_KEYS: key %s is not base64", id)
		}
		if len(k) != seal.KeySize {
			clear(k)
			return nil, "", usagef("NSALINK_SEAL_KEYS: key %s is %d bytes, want %d", id, len(k), seal.KeySize)
		}
		keys[id] = k
		order = append(order, id)
	}
	primary := e.getenv("NSALINK_SEAL_PRIMARY")
	if primary == "" {
		if len(keys) > 1 {
			return nil, "", usagef("NSALINK_SEAL_PRIMARY is required with more than one key (one of %s)", strings.Join(order, ", "))
		}
		primary = order[0]
	}
	if _, ok := keys[primary]; !ok {
		return nil, "", usagef("NSALINK_SEAL_PRIMARY %s is not among the keys of NSALINK_SEAL_KEYS (%s)", strconv.Quote(primary), strings.Join(order, ", "))
	}
	s, err := linking.NewAESGCMSealer(primary, keys)
	if err != nil {
		return nil, "", usagef("sealing keys: %v", err)
	}
	return s, primary, nil
}

// decodeKey accepts standard or URL base64, padded or not.
func decodeKey(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}
