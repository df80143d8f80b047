package admin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/example/sessions/internal/app"
)

// command is one sessionctl subcommand.
type command struct {
	path    string // words that name it: "user create"
	args    string // synopsis after the path: "NAME [--scope SCOPE]"
	summary string // one line for the command list
	detail  string // paragraphs for its own usage
	nargs   int    // positional arguments it takes, exactly
	offline bool   // needs no table (keygen, keys)
	kidArg  bool   // its argument is a key ID, which may begin with '-'
	flags   func(*flag.FlagSet, *options)
	run     func(*cli, context.Context, *options, []string) error
}

// valueNames name the values of the string flags in usage texts.
var valueNames = map[string]string{"table": "NAME", "scope": "SCOPE", "alg": "ALG", "dir": "DIR"}

// options are the flags of one run.
type options struct {
	table string
	scope string
	json  bool
	alg   string
	dir   string
	force bool
}

const passwordInput = "The password is never a flag: when stdin is not a terminal, its first line is " +
	"the password; otherwise sessionctl asks for it twice without echo. It must be " +
	"12 to 128 characters."

var commands = []*command{
	{
		path: "keygen", args: "[--alg ALG]", offline: true,
		summary: "print a new private signing key (PKCS#8 PEM) on stdout",
		detail: "Prints one new private key for signing access tokens, as a PKCS#8 PEM block, " +
			"for SIGNING_KEY_FILE or SIGNING_KEY in tests and local runs. It changes no " +
			"parameter: to rotate the deployed keys, use `sessionctl keys add` (then " +
			"`keys promote` and `keys retire`), which updates the private and the public key " +
			"set together; `keys init` makes a whole new set of key material. The output is " +
			"a secret: write it straight to a file with mode 0600.",
		flags: func(fs *flag.FlagSet, o *options) {
			fs.StringVar(&o.alg, "alg", "EdDSA", "EdDSA, ES256 or RS256 (RS256 for API Gateway's native JWT authorizer)")
		},
		run: (*cli).keygen,
	},
	{
		path: "keys init", args: "[--alg ALG] [--dir DIR]", offline: true,
		summary: "create the key material: the three SSM parameters (or local files)",
		detail: "Makes new key material (a private key set with one signing key, its public " +
			"key set and a refresh-token chain key) and creates the three SSM parameters: " +
			keyParamsText + " If any of them exists, it changes nothing and exits 4. " +
			"With --dir it writes the files the local server and `make sam-local-env` read " +
			"instead (" + DevSigningKeyFile + ", " + DevPublicKeysFile + ", " + DevRefreshKeyFile +
			"; the secrets with mode 0600) and replaces none.",
		flags: func(fs *flag.FlagSet, o *options) {
			fs.StringVar(&o.alg, "alg", "EdDSA", "EdDSA, ES256 or RS256 (RS256 for API Gateway's native JWT authorizer)")
			fs.StringVar(&o.dir, "dir", "", "write local files into this folder instead of SSM")
		},
		run: (*cli).keysInit,
	},
	{
		path: "keys list", args: "[--json]", offline: true,
		summary: "list the signing and verifying keys and the rotation step each is due for",
		detail: "Lists the keys of the private key set, the signing key first: key ID, " +
			"algorithm, role, when it was added and promoted (UTC), and the step it is due " +
			"for (promote or retire) with the time from which that is allowed. Then it says " +
			"whether the public key set is exactly the private set's public half; if not, " +
			"run `sessionctl keys publish`. No private material is ever printed.",
		flags: func(fs *flag.FlagSet, o *options) {
			fs.BoolVar(&o.json, "json", false, "print a JSON object instead of a table")
		},
		run: (*cli).keysList,
	},
	{
		path: "keys add", args: "[--alg ALG]", offline: true,
		summary: "rotation step 1: add a verifying key and publish it",
		detail: "Appends a new key to the private key set, not signing, and publishes the " +
			"public key set, so that every verifier learns the key before it signs. It prints " +
			"the new key ID and when `keys promote` will accept it (" + PromoteAfter.String() +
			" later: the functions' key reload plus the JWKS cache time, plus a minute).",
		flags: func(fs *flag.FlagSet, o *options) {
			fs.StringVar(&o.alg, "alg", "", "EdDSA, ES256 or RS256 (default: the signing key's)")
		},
		run: (*cli).keysAdd,
	},
	{
		path: "keys promote", args: "KID [--force]", nargs: 1, offline: true, kidArg: true,
		summary: "rotation step 2: make key KID the signing key",
		detail: "Moves key KID to the front of the private key set, so the functions sign " +
			"with it once they reload, and republishes the public key set. It refuses " +
			"(exit 2, naming the time from which it is allowed) until " + PromoteAfter.String() +
			" after the key was added and published, so that no verifier refuses the " +
			"tokens it signs. --force promotes at once, with a warning.",
		flags: func(fs *flag.FlagSet, o *options) {
			fs.BoolVar(&o.force, "force", false, "promote before every verifier can know the key")
		},
		run: (*cli).keysPromote,
	},
	{
		path: "keys retire", args: "KID [--force]", nargs: 1, offline: true, kidArg: true,
		summary: "rotation step 3: remove an old key",
		detail: "Removes key KID from the private and the public key set. The signing key " +
			"cannot be retired. It refuses (exit 2, naming the time from which it is allowed) " +
			"until the functions' key reload (" + app.KeyReloadEvery.String() + ") plus " +
			"ACCESS_TOKEN_TTL plus a minute after the signing key was promoted, so that " +
			"every token the old key signed has expired. ACCESS_TOKEN_TTL is read from the " +
			"environment, else template.yaml's default. --force retires at once, with a warning.",
		flags: func(fs *flag.FlagSet, o *options) {
			fs.BoolVar(&o.force, "force", false, "retire while tokens the key signed may still be valid")
		},
		run: (*cli).keysRetire,
	},
	{
		path: "keys publish", offline: true,
		summary: "rewrite the public key set from the private one",
		detail: "Writes the public half of the private key set to the public key set's " +
			"parameter, unless it is already exactly that. Every other keys command writes " +
			"the private set first and the public set second; this finishes a step whose " +
			"second write failed.",
		run: (*cli).keysPublish,
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
	b.WriteString(`sessionctl administers the sessions table (users, passwords and sessions) and
the key material in SSM Parameter Store.

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
http://127.0.0.1:8000, with any AWS_REGION and credentials. The keys commands
need no table; they use the SSM parameters named by SIGNING_KEY_PARAMETER,
PUBLIC_KEYS_PARAMETER and REFRESH_KEY_PARAMETER (default: template.yaml's).

Exit codes: 0 done, 1 AWS or DynamoDB failure, 2 usage error or bad input,
3 unknown user or session, 4 user already exists, 130 interrupted. For keys:
2 also a step refused as too early, 3 an unknown key or a missing parameter,
4 key material that already exists or changed meanwhile.
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
	b.WriteString(wrap(cmd.detail, 80) + "\n")
	fs, _ := cmd.flagSet(&options{})
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprint(tw, "\nFlags:\n")
			first = false
		}
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
	if !cmd.offline { // the others never read a table
		fs.StringVar(&o.table, "table", o.table, "the DynamoDB table (default: $TABLE_NAME)")
	}
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

// keyParamsText describes the three parameters in the keys commands' help.
const keyParamsText = "SIGNING_KEY_PARAMETER (SecureString: the private key set, PEM; read by " +
	"login and refresh), PUBLIC_KEYS_PARAMETER (String: the public key set, JWKS; read by the " +
	"authorizer and jwks) and REFRESH_KEY_PARAMETER (SecureString: the refresh-token chain key; " +
	"read by refresh and logout). Their names come from these variables, else from " +
	"template.yaml's defaults."

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
	if cmd.kidArg {
		rest = keyIDsLast(fs, rest)
	}
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

// subcommands lists the commands under group ("user", "sessions", "keys").
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

// keyIDsLast moves the arguments that are key IDs beginning with '-' (one in 64 is)
// behind a "--", so the flag package takes them as arguments, not as unknown flags.
func keyIDsLast(fs *flag.FlagSet, args []string) []string {
	var rest, kids []string
	for i, a := range args {
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && fs.Lookup(name) == nil && isKeyID(a) {
			kids = append(kids, a)
			continue
		}
		rest = append(rest, a)
	}
	if len(kids) == 0 {
		return args
	}
	if !slices.Contains(rest, "--") {
		rest = append(rest, "--")
	}
	return append(rest, kids...)
}

// isKeyID reports whether s has the form of a key ID: an RFC 7638 SHA-256 thumbprint,
// 43 characters of unpadded base64url.
func isKeyID(s string) bool {
	if len(s) != 43 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
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
