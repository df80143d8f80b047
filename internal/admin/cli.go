package admin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// command is one sessionctl subcommand.
type command struct {
	path    string // words that name it: "user create"
	args    string // synopsis after the path: "NAME [--scope SCOPE]"
	summary string // one line for the command list
	detail  string // paragraphs for its own usage
	nargs   int    // positional arguments it takes, exactly
	offline bool   // needs no table (keygen)
	flags   func(*flag.FlagSet, *options)
	run     func(*cli, context.Context, *options, []string) error
}

// valueNames name the values of the string flags in usage texts.
var valueNames = map[string]string{"table": "NAME", "scope": "SCOPE", "alg": "ALG"}

// options are the flags of one run.
type options struct {
	table string
	scope string
	json  bool
	alg   string
}

const passwordInput = "The password is never a flag: when stdin is not a terminal, its first line is " +
	"the password; otherwise sessionctl asks for it twice without echo. It must be " +
	"12 to 128 characters."

var commands = []*command{
	{
		path: "keygen", args: "[--alg ALG]", offline: true,
		summary: "print a new private signing key (PKCS#8 PEM) on stdout",
		detail: "Prints a new private key for signing access tokens, as the PKCS#8 PEM block " +
			"that SIGNING_KEY_PARAMETER, SIGNING_KEY_FILE and SIGNING_KEY hold. To rotate, " +
			"put the new block before the old one(s): the first key signs, all keys verify " +
			"and are published in the JWKS. Write it straight to a file with mode 0600 or " +
			"into SSM; it is a secret.",
		flags: func(fs *flag.FlagSet, o *options) {
			fs.StringVar(&o.alg, "alg", "EdDSA", "EdDSA, ES256 or RS256 (RS256 for API Gateway's native JWT authorizer)")
		},
		run: (*cli).keygen,
	},
	{
		path: "create-table", summary: "create the table from template.yaml (TTL on) unless it exists",
		detail: "Creates the table with the key schema, index and billing mode of template.yaml's " +
			"SessionsTable and turns TTL on, then says whether it was created or already " +
			"existed (an existing table is left as it is). On AWS the SAM stack owns the " +
			"table; this is for DynamoDB Local and scratch tables.",
		run: (*cli).createTable,
	},
	{
		path: "user create", args: "NAME [--scope SCOPE]", nargs: 1,
		summary: "create a user (password from stdin or a prompt)",
		detail: "Creates user NAME (normalised: trimmed, NFC, lower case) with a random opaque " +
			"user ID and an argon2id hash of the password. " + passwordInput,
		flags: func(fs *flag.FlagSet, o *options) {
			fs.StringVar(&o.scope, "scope", "", "the user's scopes, space-separated; access tokens carry them")
		},
		run: (*cli).userCreate,
	},
	{
		path: "user set-password", args: "NAME", nargs: 1,
		summary: "set a new password; ends all of the user's sessions and tokens",
		detail: "Sets a new password for NAME, bumps the user's token version (every access " +
			"token issued before is refused) and revokes every session, so every device must " +
			"log in again. " + passwordInput,
		run: (*cli).userSetPassword,
	},
	{
		path: "user revoke-all", args: "NAME", nargs: 1,
		summary: "end all of the user's sessions and tokens",
		detail: "Bumps the token version of NAME (every access token issued before is refused) " +
			"and revokes every session. The password stays as it is.",
		run: (*cli).userRevokeAll,
	},
	{
		path: "user disable", args: "NAME", nargs: 1,
		summary: "refuse the user's logins; ends all of the user's sessions and tokens",
		detail: "Marks NAME disabled and ends everything the user had: logins fail (answered as " +
			"a wrong password is), the token version is bumped (every access token issued " +
			"before is refused) and every session is revoked. `sessionctl user enable NAME` " +
			"undoes only the mark.",
		run: func(c *cli, ctx context.Context, _ *options, args []string) error {
			return c.userSetDisabled(ctx, args[0], true)
		},
	},
	{
		path: "user enable", args: "NAME", nargs: 1,
		summary: "undo user disable (ended sessions stay ended)",
		detail: "Clears the disabled mark of NAME, so the user can log in again. Sessions and " +
			"access tokens that the disable ended stay ended.",
		run: func(c *cli, ctx context.Context, _ *options, args []string) error {
			return c.userSetDisabled(ctx, args[0], false)
		},
	},
	{
		path: "sessions list", args: "NAME [--json]", nargs: 1,
		summary: "list the user's sessions, newest first",
		detail: "Lists the sessions of NAME, newest first: session ID, creation, last use, idle " +
			"and absolute deadlines (UTC), state, client IP and user agent. The state is live, " +
			"revoked(REASON) or expired, judged by the deadlines themselves: DynamoDB deletes " +
			"expired items only some time after their TTL.",
		flags: func(fs *flag.FlagSet, o *options) {
			fs.BoolVar(&o.json, "json", false, "print a JSON array instead of a table")
		},
		run: (*cli).sessionsList,
	},
	{
		path: "sessions revoke", args: "SID", nargs: 1,
		summary: "revoke one session",
		detail: "Revokes session SID (the session ID that `sessions list` shows, not a refresh " +
			"token): its refresh token stops working and the authorizer refuses its access tokens.",
		run: (*cli).sessionsRevoke,
	},
}

// usage is the text of `sessionctl help`.
func usage() string {
	var b strings.Builder
	b.WriteString(`sessionctl administers the sessions table: users, passwords and sessions.

Usage:
  sessionctl [--table NAME] COMMAND [ARGUMENTS]

Commands:
`)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, cmd := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(cmd.path+" "+cmd.args), cmd.summary)
	}
	fmt.Fprintf(tw, "  %s\t%s\n", "help [COMMAND]", "show this text, or a command's own")
	tw.Flush()
	b.WriteString(`
Flags (before or after the command):
  --table NAME  the DynamoDB table (default: $TABLE_NAME)

Passwords are never flags: when stdin is not a terminal its first line is the
password, otherwise sessionctl asks twice without echo.

sessionctl uses the standard AWS configuration (AWS_REGION, AWS_PROFILE,
credentials, ...). For DynamoDB Local set AWS_ENDPOINT_URL_DYNAMODB, e.g.
http://127.0.0.1:8000, with any AWS_REGION and credentials.

Exit codes: 0 done, 1 AWS or DynamoDB failure, 2 usage error or bad input,
3 unknown user or session, 4 user already exists, 130 interrupted.
`)
	return b.String()
}

// synopsis is a command's one-line usage.
func (cmd *command) synopsis() string {
	return "usage: " + strings.TrimSpace("sessionctl "+cmd.path+" "+cmd.args)
}

// usage is the text of `sessionctl help COMMAND`.
func (cmd *command) usage() string {
	var b strings.Builder
	b.WriteString(cmd.synopsis() + "\n\n")
	b.WriteString(wrap(cmd.detail, 80) + "\n\nFlags:\n")
	fs, _ := cmd.flagSet(&options{})
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		name, text := flag.UnquoteUsage(f)
		if n, ok := valueNames[f.Name]; ok {
			name = n
		}
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace("--"+f.Name+" "+name), text)
	})
	tw.Flush()
	return b.String()
}

func (cmd *command) flagSet(o *options) (*flag.FlagSet, *options) {
	fs := flag.NewFlagSet(cmd.path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if cmd.flags != nil {
		cmd.flags(fs, o)
	}
	fs.StringVar(&o.table, "table", o.table, "the DynamoDB table (default: $TABLE_NAME)")
	return fs, o
}

// wrap breaks text into lines of at most width characters.
func wrap(text string, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(text) {
		switch {
		case n == 0:
		case n+1+len(w) > width:
			b.WriteByte('\n')
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

const helpHint = "Run 'sessionctl help' for usage."

func (c *cli) run(ctx context.Context, args []string) error {
	var o options
	global := flag.NewFlagSet("sessionctl", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	global.StringVar(&o.table, "table", "", "")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, err := io.WriteString(c.env.Stdout, usage())
			return err
		}
		return &usageError{msg: err.Error(), hint: helpHint}
	}
	args = global.Args()
	if len(args) == 0 {
		return &usageError{msg: "no command given", hint: helpHint}
	}
	if args[0] == "help" {
		return c.help(args[1:])
	}
	cmd, rest, err := lookup(args)
	if err != nil {
		return err
	}
	fs, _ := cmd.flagSet(&o)
	pos, err := parseInterleaved(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		_, err := io.WriteString(c.env.Stdout, cmd.usage())
		return err
	}
	if err != nil {
		return &usageError{msg: cmd.path + ": " + err.Error(), hint: cmd.synopsis()}
	}
	if len(pos) != cmd.nargs {
		msg := fmt.Sprintf("%s takes no arguments, got %q", cmd.path, pos)
		switch {
		case cmd.nargs == 1 && len(pos) == 0:
			msg = fmt.Sprintf("%s: missing %s", cmd.path, strings.Fields(cmd.args)[0])
		case cmd.nargs == 1:
			msg = fmt.Sprintf("%s takes one %s, got %d arguments %q", cmd.path, strings.Fields(cmd.args)[0], len(pos), pos)
		}
		return &usageError{msg: msg, hint: cmd.synopsis()}
	}
	if !cmd.offline {
		if err := c.connect(ctx, o.table); err != nil {
			return err
		}
	}
	return cmd.run(c, ctx, &o, pos)
}

// lookup finds the command named by the first words of args.
func lookup(args []string) (*command, []string, error) {
	for _, cmd := range commands {
		words := strings.Fields(cmd.path)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == cmd.path {
			return cmd, args[len(words):], nil
		}
	}
	if subs := subcommands(args[0]); len(subs) > 0 {
		if len(args) == 1 || strings.HasPrefix(args[1], "-") {
			return nil, nil, &usageError{msg: fmt.Sprintf("%s needs a subcommand: %s", args[0], strings.Join(subs, ", ")), hint: helpHint}
		}
		return nil, nil, &usageError{msg: fmt.Sprintf("unknown command %q; %s has %s", args[0]+" "+args[1], args[0], strings.Join(subs, ", ")), hint: helpHint}
	}
	return nil, nil, &usageError{msg: fmt.Sprintf("unknown command %q", args[0]), hint: helpHint}
}

// subcommands lists the commands under group ("user", "sessions").
func subcommands(group string) []string {
	var subs []string
	for _, cmd := range commands {
		if g, sub, ok := strings.Cut(cmd.path, " "); ok && g == group {
			subs = append(subs, sub)
		}
	}
	return subs
}

func (c *cli) help(args []string) error {
	if len(args) == 0 {
		_, err := io.WriteString(c.env.Stdout, usage())
		return err
	}
	name := strings.Join(args, " ")
	for _, cmd := range commands {
		if cmd.path == name {
			_, err := io.WriteString(c.env.Stdout, cmd.usage())
			return err
		}
	}
	if len(args) == 1 {
		if subs := subcommands(args[0]); len(subs) > 0 {
			var b strings.Builder
			for _, sub := range subs {
				cmd, _, _ := lookup([]string{args[0], sub})
				b.WriteString(cmd.usage() + "\n")
			}
			_, err := io.WriteString(c.env.Stdout, strings.TrimSuffix(b.String(), "\n"))
			return err
		}
	}
	return &usageError{msg: fmt.Sprintf("help: unknown command %q", name), hint: helpHint}
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, as in `user create alice --scope admin`, and returns the
// positional ones. After "--" everything is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
