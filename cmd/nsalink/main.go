// Command nsalink is the operator CLI of an nsalink deployment: what a
// platform's on-call engineer runs against the links database (SQLite or
// PostgreSQL) to see the fleet, inspect one link and its audit trail, force
// a re-check with USPS, export the audit trail, rotate the sealing key, see
// the USPS call budget, and list, export or import the stored rate tables.
//
// Usage:
//
//	nsalink <command> [flags] [args]
//
// Commands:
//
//	links [-state S] [-reason R]   list links (redacted) and count them by state and reason
//	link ID                        inspect one link (redacted) with its audit trail
//	recheck ID                     re-check a pending link with USPS now
//	events ID [-format json|csv]   export a link's audit trail
//	rotate-key [-check]            re-seal every token under the primary sealing key
//	quota                          the USPS call budget as this process sees it
//	tables list                    the stored rate tables and their sync state (redacted)
//	tables export KEY              a stored rate table's CSV, byte for byte
//	tables import -account ID FILE store a contract (or -commercial) rate table
//
// Every command takes -db (or $NSALINK_DB): sqlite:PATH or a PostgreSQL URL
// (postgres://…). Prefer $NSALINK_DB for a DSN holding a password: a flag
// shows in ps. Secrets (the USPS client secret, sealing keys) are read from
// the environment only, and no command prints a token, a key or a full EPS
// account number.
//
// Exit codes: 0 success, 1 operational failure (database, USPS, a link
// not found, a check that did not pass), 2 usage (bad flag, argument or
// configuration).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nsalink/nsalink/linking"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// env is the process environment, injected so that tests need no
// os.Setenv (and may run in parallel).
type env struct {
	ctx    context.Context
	getenv func(string) string
	stdin  io.Reader // tables import -
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time

	epsSealer linking.Sealer // built once by openEPS
}

// command is one subcommand: its flags are declared by flags, and do runs
// it with the positional arguments.
type command struct {
	name    string
	args    string // positional arguments, for the usage line
	summary string
	detail  string // more help, after the usage line
	nargs   int    // exact number of positional arguments; -1: checked by the command
	// setup declares the command's flags and returns the function that runs
	// it once they are parsed.
	setup func(e *env, fs *flag.FlagSet) func(args []string) error
}

// commands lists the subcommands in the order of the usage text.
func commands() []command {
	return []command{
		linksCommand(), linkCommand(), recheckCommand(), eventsCommand(),
		rotateKeyCommand(), quotaCommand(), tablesCommand(),
	}
}

// usageError is a bad flag, argument or configuration: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// run is the whole program, minus the process: main calls it with the real
// environment, tests with their own.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, getenv: getenv, stdin: os.Stdin, stdout: stdout, stderr: stderr, now: time.Now}
	return e.run(args)
}

func (e *env) run(args []string) int {
	if len(args) == 0 {
		printUsage(e.stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(rest) > 0 && name == "help" {
			if c, ok := findCommand(rest[0]); ok {
				e.commandUsage(e.stdout, c)
				return exitOK
			}
			fmt.Fprintf(e.stderr, "nsalink: unknown command %q\n", rest[0])
			return exitUsage
		}
		printUsage(e.stdout)
		return exitOK
	}
	c, ok := findCommand(name)
	if !ok {
		fmt.Fprintf(e.stderr, "nsalink: unknown command %q\n\n", name)
		printUsage(e.stderr)
		return exitUsage
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // usage is printed below, to the right stream
	do := c.setup(e, fs)
	pos, err := parseInterleaved(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		e.commandUsage(e.stdout, c)
		return exitOK
	}
	if err == nil && c.nargs >= 0 && len(pos) != c.nargs {
		err = usagef("want %d argument(s) (%s), got %d", c.nargs, c.args, len(pos))
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "nsalink %s: %v\n\n", c.name, err)
		e.commandUsage(e.stderr, c)
		return exitUsage
	}
	if err := do(pos); err != nil {
		fmt.Fprintf(e.stderr, "nsalink %s: %v\n", c.name, err)
		var ue *usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFail
	}
	return exitOK
}

func findCommand(name string) (command, bool) {
	cs := commands()
	i := slices.IndexFunc(cs, func(c command) bool { return c.name == name })
	if i < 0 {
		return command{}, false
	}
	return cs[i], true
}

// parseInterleaved parses flags that come before, between or after the
// positional arguments ("link acct-1 -db …" as well as "link -db … acct-1"),
// which the flag package alone stops at.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil // "--": the rest are arguments, even "-x"
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `nsalink is the operator CLI of an nsalink deployment.

usage: nsalink <command> [flags] [args]

commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %-19s %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprint(w, `
Every command takes -db DSN (or $NSALINK_DB): sqlite:PATH or postgres://….
"nsalink <command> -h" describes a command. Exit codes: 0 ok, 1 failure, 2 usage.
`)
}

func (e *env) commandUsage(w io.Writer, c command) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", strings.TrimSpace("nsalink "+c.name+" [flags] "+c.args), c.summary)
	if c.detail != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.detail))
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.setup(e, fs)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nflags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}
