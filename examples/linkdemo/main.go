// Command linkdemo runs nsalink's linking journey on your machine: a fake
// USPS and "Acme Ship", a small shipping platform whose customer links a USPS
// Business Account, enters CRID, MID and EPS, and gets NSA rates on labels.
//
//	go run ./examples/linkdemo               # serve it; open the printed URL
//	go run ./examples/linkdemo -walkthrough  # the same journey, no browser
//
// glue.go is the part a platform copies into its backend.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nsalink/nsalink/linking"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "linkdemo:", err)
		os.Exit(1)
	}
}

// run is the whole program; it returns when ctx ends or the walkthrough is done.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("linkdemo", flag.ContinueOnError)
	flags.SetOutput(stdout)
	addr := flags.String("addr", "127.0.0.1:0", "loopback `address` to serve on")
	dbPath := flags.String("db", "linkdemo.db", "SQLite database `file`; its sealing key is kept in FILE.key")
	payer := flags.String("payer", "customer", "who pays postage: `customer` (the customer's EPS account) or platform\n(the platform's own EPS account; the customer's only holds the NSA prices)")
	returns := flags.Bool("returns", false, "also authorize return labels: customers give a returns MID")
	walk := flags.Bool("walkthrough", false, "run the journey over HTTP without a browser, print each step and exit\n(with a throwaway database unless -db is given)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flags.Args())
	}
	pay := linking.PaymentModel{Payer: linking.Payer(*payer), Returns: *returns}
	switch pay.Payer {
	case linking.PayerCustomer:
	case linking.PayerPlatform:
		pay.PlatformEPS = epaPlatform
	default:
		return fmt.Errorf("-payer %q: want customer or platform", *payer)
	}
	if *walk && (pay.Payer != linking.PayerCustomer || pay.Returns) {
		return errors.New("-walkthrough follows the customer-pays journey: leave out -payer and -returns")
	}
	logger := slog.New(slog.NewTextHandler(stdout, nil))
	if *walk {
		logger = slog.New(slog.DiscardHandler)
		if !flagSet(flags, "db") {
			dir, err := os.MkdirTemp("", "linkdemo-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			*dbPath = filepath.Join(dir, "linkdemo.db")
		}
	}
	d, err := startDemo(ctx, *addr, *dbPath, pay, logger)
	if err != nil {
		return err
	}
	if *walk {
		return errors.Join(walkthrough(ctx, d, stdout), d.Close())
	}
	d.printIntro(ctx, stdout)
	<-ctx.Done()
	fmt.Fprintln(stdout, "Shutting down.")
	return d.Close()
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// demo is the running fake USPS and host.
type demo struct {
	URL    string // the host's base URL
	DBPath string
	usps   *fakeUSPS
	nsa    *nsa
	server *http.Server

	stopReconciler context.CancelFunc
	wg             sync.WaitGroup
	closeOnce      sync.Once
	closeErr       error
}

// startDemo listens on addr (loopback only), then starts the fake USPS with
// the platform app's redirect URI on that address, then the host.
func startDemo(ctx context.Context, addr, dbPath string, pay linking.PaymentModel, logger *slog.Logger) (_ *demo, err error) {
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	key, err := loadOrCreateKey(dbPath + ".key")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	d := &demo{URL: "http://" + ln.Addr().String(), DBPath: dbPath}
	defer func() {
		if err != nil {
			ln.Close()
			err = errors.Join(err, d.Close())
		}
	}()
	callback := d.URL + "/usps/callback"
	rates, err := newRateBook()
	if err != nil {
		return nil, err
	}
	if d.usps, err = startFakeUSPS(callback, rates); err != nil {
		return nil, err
	}
	if d.nsa, err = newNSA(ctx, d.usps.app, d.usps.URL, d.usps.COPURL(), callback, dbPath, key, rates.pricer, rates.commercial, fakeZonePairs(), pay, logger); err != nil {
		return nil, err
	}
	a, err := newApp(d.nsa, d.usps, rates, logger)
	if err != nil {
		return nil, err
	}
	h, err := a.handler()
	if err != nil {
		return nil, err
	}
	// The reconciler outlives a cancelled ctx until Close, so that shutdown
	// happens in order: server, reconciler, store.
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.stopReconciler = cancel
	d.server = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	d.wg.Add(3)
	go func() { defer d.wg.Done(); d.nsa.reconcile(rctx) }()
	go func() { defer d.wg.Done(); d.nsa.sync(rctx, logger) }()
	go func() {
		defer d.wg.Done()
		if err := d.server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			logger.Error("linkdemo: serve", slog.String("error", err.Error()))
		}
	}()
	return d, nil
}

// Close stops the host, the reconciler, the store and the fake USPS.
func (d *demo) Close() error {
	d.closeOnce.Do(func() {
		var errs []error
		if d.server != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			errs = append(errs, d.server.Shutdown(ctx))
			cancel()
		}
		if d.stopReconciler != nil {
			d.stopReconciler()
		}
		d.wg.Wait()
		if d.nsa != nil {
			errs = append(errs, d.nsa.store.Close())
		}
		if d.usps != nil {
			d.usps.Close()
		}
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %s: the demo serves on loopback only (127.0.0.1, ::1 or localhost)", addr)
	}
	return nil
}

// loadOrCreateKey reads the demo's token-sealing key, creating it (0600) on
// first run, so that tokens in an existing database still open. Production
// keys come from a secret manager, never from a file beside the database.
func loadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, 32)
		rand.Read(key)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		_, err = fmt.Fprintln(f, hex.EncodeToString(key))
		return key, errors.Join(err, f.Close())
	}
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("%s: want 64 hex digits (a 32-byte key); delete it and the database to start over", path)
	}
	return key, nil
}

func (d *demo) printIntro(ctx context.Context, w io.Writer) {
	debits, _ := d.usps.microDebits(epaPendingACH)
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("\n%s (nsalink linking demo) is running at %s\n", platformName, d.URL)
	p("  %s sign-in:   %s / %s", platformName, demoEmail, demoPassword)
	p("  USPS (fake) sign-in: %s / %s, MFA code %s", uspsUser, uspsPassword, uspsMFA)
	p("  Then enter:          CRID %s, MID %s (manifest MID %s) and an EPS account:", demoCRID, demoMID, demoManifestMID)
	p("                       %s  active, NSA contract in effect", epaActive)
	p("                       %s  ACH pending: micro-debits %s and %s", epaPendingACH, cents(debits[0]), cents(debits[1]))
	p("                       %s  no payment method", epaNoPayment)
	p("  Database:            %s (sealing key in %s.key)", d.DBPath, d.DBPath)
	if st, err := d.nsa.linker.Status(ctx, demoAccountID); err == nil && st.State != linking.StateUnlinked {
		p("\n  The database holds a link from an earlier run (%s), but the fake USPS starts", st.State)
		p("  afresh each run: link again from the settings page, or delete %s* to start over.", d.DBPath)
	}
	p("\nPress Ctrl+C to stop.")
}
