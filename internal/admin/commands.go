package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/example/sessions/internal/ddb"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/password"
	"github.com/example/sessions/internal/samtemplate"
	"github.com/example/sessions/internal/session"
)

// connect resolves the table and builds the store and the session service. The
// service only revokes here; it mints no token, so it gets no signing key.
func (c *cli) connect(ctx context.Context, table string) error {
	if table == "" {
		table = strings.TrimSpace(c.env.Getenv("TABLE_NAME"))
	}
	if table == "" {
		return &usageError{msg: "no table: pass --table NAME or set TABLE_NAME", hint: helpHint}
	}
	c.table = table
	if c.env.Connect == nil {
		return errors.New("no DynamoDB client configured")
	}
	client, err := c.env.Connect(ctx)
	if err != nil {
		return fmt.Errorf("AWS configuration: %w", err)
	}
	c.client = client
	c.store = ddb.New(client, table)
	c.service = session.New(session.Deps{
		Store: c.store, Now: c.env.Now, Password: c.env.Password, Log: c.env.Log, Audit: c.audit,
	})
	return nil
}

func (c *cli) keygen(_ context.Context, o *options, _ []string) error {
	pem, err := keys.Generate(o.alg)
	if err != nil {
		return &usageError{msg: "keygen: " + err.Error(), hint: "usage: sessionctl keygen [--alg EdDSA|ES256|RS256]"}
	}
	_, err = c.env.Stdout.Write(pem)
	return err
}

func (c *cli) createTable(ctx context.Context, _ *options, _ []string) error {
	tpl, err := samtemplate.Parse(c.env.Template)
	if err != nil {
		return err
	}
	in, err := tpl.CreateTableInput(c.table)
	if err != nil {
		return err
	}
	ttl := tpl.TTLAttribute()
	created, err := ddb.EnsureTable(ctx, c.client, in, ttl)
	if err != nil {
		return c.failed("creating table "+c.table, err)
	}
	switch {
	case !created:
		fmt.Fprintf(c.env.Stdout, "table %s already exists; left as it is\n", c.table)
	case ttl != "":
		fmt.Fprintf(c.env.Stdout, "created table %s (TTL on attribute %s)\n", c.table, ttl)
	default:
		fmt.Fprintf(c.env.Stdout, "created table %s\n", c.table)
	}
	return nil
}

func (c *cli) userCreate(ctx context.Context, o *options, args []string) error {
	name, err := normalizeName(args[0])
	if err != nil {
		return err
	}
	// Service.CreateUser checks this too; here it comes before the password prompt.
	if err := password.CheckNewUsername(name); err != nil {
		return &usageError{msg: err.Error()}
	}
	scope, err := normalizeScope(o.scope)
	if err != nil {
		return err
	}
	// Refuse before asking for a password that would be thrown away.
	exists, err := c.userExists(ctx, name)
	if err != nil {
		return err
	}
	if exists {
		return conflict("user %q already exists", name)
	}
	pw, err := c.readPassword(name)
	if err != nil {
		return err
	}
	l, err := c.service.CreateUser(ctx, name, pw, scope)
	if errors.Is(err, session.ErrExists) {
		return conflict("user %q already exists", name)
	}
	if err != nil {
		return c.failed("creating user "+name, err)
	}
	fmt.Fprintf(c.env.Stdout, "created user %s (uid %s)\n", name, l.UID)
	return nil
}

func (c *cli) userSetPassword(ctx context.Context, _ *options, args []string) error {
	l, err := c.findUser(ctx, args[0])
	if err != nil {
		return err
	}
	pw, err := c.readPassword(l.Name)
	if err != nil {
		return err
	}
	hash, err := password.Hash(pw, c.env.Password)
	if err != nil {
		return fmt.Errorf("hashing the password: %w", err)
	}
	n, err := c.revokeUser(ctx, l, hash, session.ReasonPasswordChange)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "changed the password of %s; %s; access tokens issued before now are refused\n", l.Name, n)
	return nil
}

func (c *cli) userRevokeAll(ctx context.Context, _ *options, args []string) error {
	l, err := c.findUser(ctx, args[0])
	if err != nil {
		return err
	}
	n, err := c.revokeUser(ctx, l, "", session.ReasonAdminRevoke)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "revoked every session of %s; %s; access tokens issued before now are refused\n", l.Name, n)
	return nil
}

// revokeUser bumps the user's token version (setting newHash if not empty) and
// revokes every session, then says how many of them this run ended while they were
// live (RevokeUser counts them from its own writes, so a repeat says 0).
func (c *cli) revokeUser(ctx context.Context, l *session.Login, newHash, reason string) (string, error) {
	n, err := c.service.RevokeUser(ctx, l.UID, newHash, reason)
	switch {
	case errors.Is(err, session.ErrNotFound):
		return "", notFound("no user record for %q (uid %s)", l.Name, l.UID)
	case err != nil:
		return "", c.failed("revoking the sessions of "+l.Name, err)
	}
	return liveCount(n), nil
}

func liveCount(n int) string {
	if n == 1 {
		return "1 live session revoked"
	}
	return fmt.Sprintf("%d live sessions revoked", n)
}

func (c *cli) userSetDisabled(ctx context.Context, arg string, disabled bool) error {
	l, err := c.findUser(ctx, arg)
	if err != nil {
		return err
	}
	n, err := c.service.SetDisabled(ctx, l.UID, disabled)
	if errors.Is(err, session.ErrNotFound) {
		return notFound("no user record for %q (uid %s)", l.Name, l.UID)
	}
	if err != nil {
		return c.failed("updating user "+l.Name, err)
	}
	if disabled {
		fmt.Fprintf(c.env.Stdout, "disabled user %s: logins are refused; %s; access tokens issued before now are refused\n", l.Name, liveCount(n))
	} else {
		fmt.Fprintf(c.env.Stdout, "enabled user %s: logins work again; sessions and access tokens ended by the disable stay ended\n", l.Name)
	}
	return nil
}

// sessionView is one session as `sessions list` shows it.
type sessionView struct {
	ID           string     `json:"sid"`
	UserID       string     `json:"user_id"`
	State        string     `json:"state"` // live, revoked or expired
	RevokeReason string     `json:"revoke_reason,omitempty"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	LastUsed     time.Time  `json:"last_used"`
	IdleExp      time.Time  `json:"idle_expires_at"`
	AbsExp       time.Time  `json:"expires_at"`
	Scope        string     `json:"scope,omitempty"`
	Refreshes    int64      `json:"refreshes"`
	IP           string     `json:"ip,omitempty"`
	UserAgent    string     `json:"user_agent,omitempty"`
}

func view(s *session.Session, now time.Time) sessionView {
	v := sessionView{
		ID: s.ID, UserID: s.UserID, State: "live",
		CreatedAt: s.CreatedAt.UTC(), LastUsed: s.LastUsed.UTC(),
		IdleExp: s.IdleExp.UTC(), AbsExp: s.AbsExp.UTC(),
		Scope: s.Scope, Refreshes: s.Gen, IP: s.IP, UserAgent: s.UserAgent,
	}
	switch {
	case s.Revoked():
		at := s.RevokedAt.UTC()
		v.State, v.RevokeReason, v.RevokedAt = "revoked", s.RevokeReason, &at
	case !now.Before(s.IdleExp) || !now.Before(s.AbsExp):
		// Expired items stay until DynamoDB's TTL process deletes them, which can
		// take days; the deadlines decide, as they do for refresh.
		v.State = "expired"
	}
	return v
}

func (c *cli) sessionsList(ctx context.Context, o *options, args []string) error {
	l, err := c.findUser(ctx, args[0])
	if err != nil {
		return err
	}
	sessions, err := c.sessionsOf(ctx, l.UID)
	if err != nil {
		return c.failed("listing the sessions of "+l.Name, err)
	}
	now := c.env.Now()
	views := make([]sessionView, 0, len(sessions))
	for _, s := range sessions {
		views = append(views, view(s, now))
	}
	if o.json {
		enc := json.NewEncoder(c.env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(views)
	}
	if len(views) == 0 {
		fmt.Fprintf(c.env.Stdout, "%s has no sessions\n", l.Name)
		return nil
	}
	tw := tabwriter.NewWriter(c.env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SID\tCREATED\tLAST-USED\tIDLE-EXPIRES\tEXPIRES\tSTATE\tIP\tUSER-AGENT")
	for _, v := range views {
		state := v.State
		if v.RevokeReason != "" {
			state += "(" + v.RevokeReason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, stamp(v.CreatedAt), stamp(v.LastUsed),
			stamp(v.IdleExp), stamp(v.AbsExp), printable(state), printable(v.IP), printable(v.UserAgent))
	}
	return tw.Flush()
}

func (c *cli) sessionsRevoke(ctx context.Context, _ *options, args []string) error {
	sid := args[0]
	if strings.Contains(sid, ".") {
		return &usageError{msg: "that looks like a refresh token; pass the session ID (the part before the dot, as `sessions list` shows it)", hint: "usage: sessionctl sessions revoke SID"}
	}
	if sid == "" || strings.IndexFunc(sid, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return &usageError{msg: fmt.Sprintf("%q is not a session ID", sid), hint: "usage: sessionctl sessions revoke SID"}
	}
	// One write, whose ALL_OLD image says whether the session had already been
	// revoked: a read first could be overtaken by a concurrent revocation. Revoking
	// twice is harmless: the first revocation's time and reason stay.
	old, err := c.service.RevokeSession(ctx, sid, session.ReasonAdminRevoke)
	if errors.Is(err, session.ErrNotFound) {
		return notFound("no session %q", sid)
	}
	if err != nil {
		return c.failed("revoking session "+sid, err)
	}
	owner := old.UserID
	if u, err := c.service.GetUser(ctx, old.UserID); err == nil && u.Name != "" {
		owner = u.Name
	}
	if old.Revoked() {
		fmt.Fprintf(c.env.Stdout, "session %s of %s was already revoked (%s) at %s\n", sid, owner, printable(old.RevokeReason), stamp(old.RevokedAt))
		return nil
	}
	fmt.Fprintf(c.env.Stdout, "revoked session %s of %s\n", sid, owner)
	return nil
}

// sessionsOf reads every session the user's record lists, live or ended, most
// recently used first.
func (c *cli) sessionsOf(ctx context.Context, uid string) ([]*session.Session, error) {
	return c.service.ListedSessions(ctx, uid)
}

// findUser returns the login record of the user named arg, or a not-found error.
func (c *cli) findUser(ctx context.Context, arg string) (*session.Login, error) {
	name, err := normalizeName(arg)
	if err != nil {
		return nil, err
	}
	l, err := c.service.FindUser(ctx, name)
	if errors.Is(err, session.ErrNotFound) {
		return nil, notFound("no user %q", name)
	}
	if err != nil {
		return nil, c.failed("reading user "+name, err)
	}
	return l, nil
}

func (c *cli) userExists(ctx context.Context, name string) (bool, error) {
	_, err := c.service.FindUser(ctx, name)
	if errors.Is(err, session.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, c.failed("reading user "+name, err)
	}
	return true, nil
}

func normalizeName(arg string) (string, error) {
	name, err := password.NormalizeUsername(arg)
	if err != nil {
		return "", &usageError{msg: err.Error()}
	}
	return name, nil
}

// normalizeScope checks a space-separated list of OAuth scope tokens (RFC 6749
// §3.3: printable ASCII except space, '"' and '\') and joins it with single spaces.
func normalizeScope(s string) (string, error) {
	words := strings.Fields(s)
	for _, w := range words {
		for _, r := range w {
			if r < 0x21 || r > 0x7e || r == '"' || r == '\\' {
				return "", &usageError{msg: fmt.Sprintf("bad scope %q: scopes are printable ASCII words without quotes or backslashes", w)}
			}
		}
	}
	return strings.Join(words, " "), nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// printable shows client-supplied text (user agent, IP) without letting it drive the
// terminal: control and other non-printable characters become '?'.
func printable(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, s)
}
