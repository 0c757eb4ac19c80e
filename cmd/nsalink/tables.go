package main

import (
	"errors"
	"flag"
)

func tablesCommand() command {
	return command{
		name: "tables", args: "import|export", nargs: 1, summary: "import or export rate tables (not available yet)",
		detail: `
Not available yet: the Store of this nsalink keeps no rate tables (the
customers' NSA tables live in the host's own storage, loaded into an
nsarates.Pricer). Until the Store persists them, import and export tables
with nsarates's CSV functions in the host.`,
		setup: func(e *env, fs *flag.FlagSet) func([]string) error {
			return func(args []string) error {
				if args[0] != "import" && args[0] != "export" {
					return usagef("want import or export")
				}
				return errors.New("not available yet: this nsalink's Store keeps no rate tables")
			}
		},
	}
}
