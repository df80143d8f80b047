package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/example/sessions/internal/api"
	"github.com/example/sessions/internal/app"
	"github.com/example/sessions/internal/audit"
	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/samtemplate"
)

// SSMClient is the SSM Parameter Store API the keys commands use; *ssm.Client
// implements it. Nothing else is needed: every step reads a parameter whole and writes
// it whole.
type SSMClient interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, opts ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
}

// PromoteAfter is how long `keys promote` waits after a key was added and published
// before it lets the key sign: every warm function reloads the public key set within
// app.KeyReloadEvery and every client's cached JWKS document expires within
// api.JWKSMaxAge, so by then every verifier knows the key. The minute covers clock
// skew and the time a reload takes.
const PromoteAfter = app.KeyReloadEvery + api.JWKSMaxAge + time.Minute

// RetireAfter is how long `keys retire` waits after the current signing key was
// promoted before it removes an older key: every minter switches within
// app.KeyReloadEvery, and the last token the old key signed then expires within
// accessTTL. The minute covers clock skew and the verifier's leeway.
func RetireAfter(accessTTL time.Duration) time.Duration {
	return app.KeyReloadEvery + accessTTL + time.Minute
}

// Local key files that `keys init --dir` writes: the names the local server
// (local/env.go) and scripts/sam-local-env.sh read.
const (
	DevSigningKeyFile = "dev-signing-key.pem"
	DevPublicKeysFile = "dev-public-keys.json"
	DevRefreshKeyFile = "dev-refresh-key"
)

// keyParams are the names of the three SSM parameters.
type keyParams struct {
	private, public, refresh string
}

// connectSSM resolves the parameter names and builds the SSM client. Like connect, it
// runs only for commands that reach AWS.
func (c *cli) connectSSM(ctx context.Context) error {
	var err error
	if c.params.private, err = c.setting("SIGNING_KEY_PARAMETER", config.UseSigningKey); err != nil {
		return err
	}
	if c.params.public, err = c.setting("PUBLIC_KEYS_PARAMETER", config.UsePublicKeys); err != nil {
		return err
	}
	if c.params.refresh, err = c.setting("REFRESH_KEY_PARAMETER", config.UseRefreshKey); err != nil {
		return err
	}
	if c.env.ConnectSSM == nil {
		return errors.New("no SSM client configured")
	}
	client, err := c.env.ConnectSSM(ctx)
	if err != nil {
		return fmt.Errorf("AWS configuration: %w", err)
	}
	c.ssm = client
	return nil
}

// setting is the environment variable name, or else the value template.yaml gives it
// in the environment of a function that uses u: the template parameter's default, so
// sessionctl and a stack deployed with the defaults agree without configuration.
func (c *cli) setting(name string, u config.Use) (string, error) {
	if v := strings.TrimSpace(c.env.Getenv(name)); v != "" {
		return v, nil
	}
	if c.tpl == nil {
		tpl, err := samtemplate.Parse(c.env.Template)
		if err != nil {
			return "", err
		}
		c.tpl = tpl
	}
	for _, f := range app.Functions {
		if f.Uses&u == 0 {
			continue
		}
		if v := c.tpl.FunctionEnv(f.Name)[name]; v != "" {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s is not set and template.yaml gives it no default", name)
}

// accessTTL is ACCESS_TOKEN_TTL as the minting functions read it: the environment,
// else the template's default. A deployment that overrode AccessTokenTtl must set it.
func (c *cli) accessTTL() (time.Duration, error) {
	v, err := c.setting("ACCESS_TOKEN_TTL", config.UseAccessTTL)
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, &usageError{msg: fmt.Sprintf("ACCESS_TOKEN_TTL=%q is not a positive Go duration such as \"15m\"", v), hint: helpHint}
	}
	return d, nil
}

// checkAlg refuses an unknown algorithm before anything is read or written.
func checkAlg(cmd, alg string) error {
	if !slices.Contains(keys.Supported, alg) {
		return &usageError{msg: fmt.Sprintf("%s: unknown algorithm %q (want %s)", cmd, alg, strings.Join(keys.Supported, ", ")),
			hint: "usage: sessionctl " + cmd + " [--alg EdDSA|ES256|RS256]"}
	}
	return nil
}

// param is one SSM parameter as read.
type param struct {
	name     string
	exists   bool
	value    string
	version  int64
	modified time.Time // zero if SSM did not say
}

// getParam reads a parameter; a missing one is returned with exists false. Values are
// read decrypted unless only existence matters (then no KMS call is needed).
func (c *cli) getParam(ctx context.Context, name string, decrypt bool) (*param, error) {
	out, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(decrypt)})
	if _, ok := errors.AsType[*types.ParameterNotFound](err); ok {
		return &param{name: name}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading SSM parameter %s: %w", name, err)
	}
	p := &param{name: name, exists: true}
	if out.Parameter != nil {
		p.value, p.version = aws.ToString(out.Parameter.Value), out.Parameter.Version
		p.modified = aws.ToTime(out.Parameter.LastModifiedDate)
	}
	return p, nil
}

// putParam writes a parameter and returns its new version.
func (c *cli) putParam(ctx context.Context, name, value string, typ types.ParameterType, overwrite bool) (int64, error) {
	out, err := c.ssm.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(value), Type: typ, Overwrite: aws.Bool(overwrite),
	})
	if err != nil {
		return 0, err
	}
	return out.Version, nil
}

// readPrivate reads and parses the private key set. The parameter's value never
// appears in an error.
func (c *cli) readPrivate(ctx context.Context) (*keys.Set, *param, error) {
	p, err := c.getParam(ctx, c.params.private, true)
	if err != nil {
		return nil, nil, err
	}
	if !p.exists {
		return nil, nil, notFound("SSM parameter %s does not exist: create the key material with `sessionctl keys init` (or set SIGNING_KEY_PARAMETER to the deployed name, and check the AWS region)", p.name)
	}
	set, err := keys.Parse([]byte(p.value))
	if err != nil {
		return nil, nil, fmt.Errorf("SSM parameter %s does not hold a private key set: %w", p.name, err)
	}
	return set, p, nil
}

// publicState is the public parameter compared with the private set's JWKS.
type publicState struct {
	param   *param
	matches bool
	set     *keys.Set // nil if missing or unreadable
	problem string    // why it does not match, for an operator
}

func (c *cli) readPublic(ctx context.Context, private *keys.Set) (*publicState, error) {
	p, err := c.getParam(ctx, c.params.public, true)
	if err != nil {
		return nil, err
	}
	st := &publicState{param: p}
	if !p.exists {
		st.problem = "it does not exist"
		return st, nil
	}
	st.matches = p.value == string(private.JWKS())
	if st.set, err = keys.ParseJWKS([]byte(p.value)); err != nil {
		st.set, st.problem = nil, "it is not a valid public key set"
		return st, nil
	}
	if st.matches {
		return st, nil
	}
	var unpublished, stale []string
	for _, k := range private.Keys() {
		if _, ok := st.set.Lookup(k.ID); !ok {
			unpublished = append(unpublished, k.ID)
		}
	}
	for _, k := range st.set.Keys() {
		if _, ok := private.Lookup(k.ID); !ok {
			stale = append(stale, k.ID)
		}
	}
	var why []string
	if len(unpublished) > 0 {
		why = append(why, "it lacks "+strings.Join(unpublished, ", "))
	}
	if len(stale) > 0 {
		why = append(why, "it still has "+strings.Join(stale, ", "))
	}
	if len(why) == 0 {
		why = append(why, "its keys are in another order or form")
	}
	st.problem = strings.Join(why, "; ")
	return st, nil
}

// writeSets stores a changed private set, then its public half. The private set is
// the source the public one is derived from, so it goes first: if the second write
// fails, `keys publish` rebuilds the public set from it, while the other order could
// publish a key whose private half is stored nowhere. read is the private parameter as
// read before the change, to notice a change someone else made in between.
func (c *cli) writeSets(ctx context.Context, next *keys.Set, read *param) error {
	pem, err := next.PEM()
	if err != nil {
		return err
	}
	version, err := c.putParam(ctx, c.params.private, string(pem), types.ParameterTypeSecureString, true)
	if err != nil {
		return fmt.Errorf("writing the private key set to %s (the public key set was not touched): %w", c.params.private, err)
	}
	if err := c.publish(ctx, next); err != nil {
		return fmt.Errorf("wrote the private key set to %s but not the public key set to %s; run `sessionctl keys publish` to finish: %w", c.params.private, c.params.public, err)
	}
	if version != read.version+1 {
		return conflict("SSM parameter %s went from version %d to %d while sessionctl changed it: another change (or a retried write) came in between and one of them is lost; check with `sessionctl keys list`", c.params.private, read.version, version)
	}
	return nil
}

// publish writes the public half of set to the public parameter.
func (c *cli) publish(ctx context.Context, set *keys.Set) error {
	_, err := c.putParam(ctx, c.params.public, string(set.JWKS()), types.ParameterTypeString, true)
	return err
}

// publishSlack is how much later than a key's Added-At the public key set may have
// changed and still count as the publication by the same `keys add`: Added-At is in
// whole seconds and the write takes a moment.
const publishSlack = 10 * time.Second

// promoteFrom is when key k may sign: PromoteAfter after it was added, or after the
// public key set last changed if that was clearly later (a `keys publish` that finished
// a half-done `keys add` is when the verifiers started to learn the key; a later
// unrelated change only makes the wait longer, never shorter). Zero if unknown.
func promoteFrom(k *keys.Key, pub *publicState) (from time.Time, since string) {
	if k.AddedAt.IsZero() {
		return time.Time{}, ""
	}
	ref, since := k.AddedAt, "it was added at "+stamp(k.AddedAt)
	if m := pub.param.modified; m.After(ref.Add(publishSlack)) {
		ref, since = m, "the public key set last changed at "+stamp(m)
	}
	return ref.Add(PromoteAfter), since
}

// retireFrom is when keys other than signing may be removed. Zero if unknown.
func retireFrom(signing *keys.Key, accessTTL time.Duration) time.Time {
	if signing.PromotedAt.IsZero() {
		return time.Time{}
	}
	return signing.PromotedAt.Add(RetireAfter(accessTTL))
}

// keyRotated records a step that changed the key material in SSM: reason is the step
// (init, add, promote, retire, publish), kid the key it concerns (the signing key for
// init and publish). Key IDs are public (every JWKS lists them).
func (c *cli) keyRotated(ctx context.Context, step, kid string, attrs ...any) {
	audit.Emit(ctx, c.audit, "key material changed", audit.Record{Event: audit.KeyRotated, Reason: step, Time: c.env.Now()},
		append([]any{"kid", kid}, attrs...)...)
}

// warn prints a warning line on stderr.
func (c *cli) warn(format string, a ...any) {
	fmt.Fprintln(c.env.Stderr, "sessionctl: warning: "+oneLine(fmt.Sprintf(format, a...)))
}

func (c *cli) keysInit(ctx context.Context, o *options, _ []string) error {
	if err := checkAlg("keys init", o.alg); err != nil {
		return err
	}
	m, err := keys.NewMaterial(o.alg, c.env.Now())
	if err != nil {
		return err
	}
	if o.dir != "" {
		return c.keysInitDir(o.dir, m)
	}
	if err := c.connectSSM(ctx); err != nil {
		return err
	}
	// Existence only, so no KMS decryption; all three before any write, so a refusal
	// changes nothing.
	var existing []string
	for _, name := range []string{c.params.private, c.params.public, c.params.refresh} {
		p, err := c.getParam(ctx, name, false)
		if err != nil {
			return err
		}
		if p.exists {
			existing = append(existing, name)
		}
	}
	if len(existing) > 0 {
		return conflict("SSM parameter %s already exists; keys init changes nothing (rotate with `sessionctl keys add`)", strings.Join(existing, ", "))
	}
	pem, err := m.Private.PEM()
	if err != nil {
		return err
	}
	writes := []struct {
		name, value string
		typ         types.ParameterType
	}{
		{c.params.private, string(pem), types.ParameterTypeSecureString},
		{c.params.refresh, m.RefreshKey, types.ParameterTypeSecureString},
		{c.params.public, string(m.Private.JWKS()), types.ParameterTypeString},
	}
	var created []string
	for _, w := range writes {
		_, err := c.putParam(ctx, w.name, w.value, w.typ, false)
		if err == nil {
			created = append(created, w.name)
			continue
		}
		_, exists := errors.AsType[*types.ParameterAlreadyExists](err)
		switch {
		case len(created) == 0 && exists:
			return conflict("SSM parameter %s already exists (made since sessionctl looked); keys init changes nothing", w.name)
		case len(created) == 0:
			return fmt.Errorf("creating SSM parameter %s (nothing changed): %w", w.name, err)
		case w.name == c.params.public:
			return fmt.Errorf("created %s but not the public key set %s; run `sessionctl keys publish` to finish: %w", strings.Join(created, " and "), w.name, err)
		default:
			return fmt.Errorf("created %s but not %s; to start again, delete what was created (aws ssm delete-parameter --name %s) and run `sessionctl keys init` again: %w",
				strings.Join(created, " and "), w.name, strings.Join(created, "; aws ssm delete-parameter --name "), err)
		}
	}
	k := m.Private.Signing()
	c.keyRotated(ctx, "init", k.ID)
	fmt.Fprintf(c.env.Stdout, "created %s (SecureString: private key set, signing key %s, %s), %s (SecureString: refresh-token chain key) and %s (String: public key set)\n",
		c.params.private, k.ID, k.Alg, c.params.refresh, c.params.public)
	return nil
}

// keysInitDir writes the key material as the local server's files. Existing files are
// never replaced: they are checked first and each file appears whole or not at all.
func (c *cli) keysInitDir(dir string, m *keys.Material) error {
	pem, err := m.Private.PEM()
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{DevSigningKeyFile, pem, 0o600},
		{DevPublicKeysFile, m.Private.JWKS(), 0o644},
		{DevRefreshKeyFile, []byte(m.RefreshKey), 0o600},
	}
	var existing []string
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if _, err := os.Lstat(path); err == nil {
			existing = append(existing, path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if len(existing) > 0 {
		return conflict("%s already exists; keys init --dir replaces no file (delete them all to make new key material)", strings.Join(existing, ", "))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var paths []string
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := createFile(path, f.data, f.mode); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return conflict("%s appeared while sessionctl wrote the key files; wrote %s", path, strings.Join(paths, ", "))
			}
			return fmt.Errorf("writing %s: %w", path, err)
		}
		paths = append(paths, path)
	}
	fmt.Fprintf(c.env.Stdout, "wrote %s (signing key %s, %s)\n", strings.Join(paths, ", "), m.Private.Signing().ID, m.Private.Signing().Alg)
	return nil
}

// createFile makes path with data and mode, whole or not at all, and never replaces a
// file: it writes a temporary file and links it into place.
func createFile(path string, data []byte, mode os.FileMode) error {
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	tmp := path + ".tmp-" + hex.EncodeToString(suffix[:])
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Link(tmp, path)
}

// keyView is one key as `keys list` shows it; never any private material.
type keyView struct {
	KID        string     `json:"kid"`
	Alg        string     `json:"alg"`
	Role       string     `json:"role"` // signing or verifying
	AddedAt    *time.Time `json:"added_at,omitempty"`
	PromotedAt *time.Time `json:"promoted_at,omitempty"`
	// Next is the step this key is due for: "promote" (added after the signing key
	// was promoted) or "retire" (older), with the time it is allowed from.
	Next     string     `json:"next,omitempty"`
	NextFrom *time.Time `json:"next_from,omitempty"`
}

// keysView is the output of `keys list --json`.
type keysView struct {
	PrivateParameter string    `json:"private_parameter"`
	PublicParameter  string    `json:"public_parameter"`
	Keys             []keyView `json:"keys"`
	// PublicMatches says whether the public parameter is exactly the private set's
	// JWKS; PublicProblem says how it differs.
	PublicMatches bool   `json:"public_matches"`
	PublicProblem string `json:"public_problem,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func (c *cli) keysList(ctx context.Context, o *options, _ []string) error {
	if err := c.connectSSM(ctx); err != nil {
		return err
	}
	ttl, err := c.accessTTL()
	if err != nil {
		return err
	}
	priv, _, err := c.readPrivate(ctx)
	if err != nil {
		return err
	}
	pub, err := c.readPublic(ctx, priv)
	if err != nil {
		return err
	}
	signing := priv.Signing()
	v := keysView{PrivateParameter: c.params.private, PublicParameter: c.params.public, Keys: []keyView{},
		PublicMatches: pub.matches, PublicProblem: pub.problem}
	for _, k := range priv.Keys() {
		kv := keyView{KID: k.ID, Alg: k.Alg, Role: "verifying", AddedAt: optTime(k.AddedAt), PromotedAt: optTime(k.PromotedAt)}
		switch {
		case k == signing:
			kv.Role = "signing"
		case !k.AddedAt.IsZero() && k.AddedAt.After(signing.PromotedAt):
			from, _ := promoteFrom(k, pub)
			kv.Next, kv.NextFrom = "promote", optTime(from)
		default:
			kv.Next, kv.NextFrom = "retire", optTime(retireFrom(signing, ttl))
		}
		v.Keys = append(v.Keys, kv)
	}
	if o.json {
		enc := json.NewEncoder(c.env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	now := c.env.Now()
	tw := tabwriter.NewWriter(c.env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tROLE\tADDED\tPROMOTED\tNEXT")
	for _, kv := range v.Keys {
		next := "-"
		if kv.Next != "" {
			switch {
			case kv.NextFrom == nil:
				next = kv.Next + " (time unknown: --force)"
			case now.Before(*kv.NextFrom):
				next = kv.Next + " from " + stamp(*kv.NextFrom)
			default:
				next = kv.Next + " now"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", kv.KID, kv.Alg, kv.Role, stampPtr(kv.AddedAt), stampPtr(kv.PromotedAt), next)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if pub.matches {
		fmt.Fprintf(c.env.Stdout, "public key set %s: matches the private key set %s\n", c.params.public, c.params.private)
	} else {
		fmt.Fprintf(c.env.Stdout, "public key set %s: does NOT match the private key set %s (%s); run `sessionctl keys publish`\n", c.params.public, c.params.private, pub.problem)
	}
	return nil
}

func stampPtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return stamp(*t)
}

func (c *cli) keysAdd(ctx context.Context, o *options, _ []string) error {
	if o.alg != "" {
		if err := checkAlg("keys add", o.alg); err != nil {
			return err
		}
	}
	if err := c.connectSSM(ctx); err != nil {
		return err
	}
	priv, read, err := c.readPrivate(ctx)
	if err != nil {
		return err
	}
	alg := o.alg
	if alg == "" {
		alg = priv.Signing().Alg
	}
	next, k, err := priv.Add(alg, c.env.Now())
	if err != nil {
		return err
	}
	if err := c.writeSets(ctx, next, read); err != nil {
		return err
	}
	c.keyRotated(ctx, "add", k.ID)
	fmt.Fprintf(c.env.Stdout, "added key %s (%s): it verifies once the functions reload the public key set, and it may sign from %s: then run `sessionctl keys promote %s`\n",
		k.ID, k.Alg, stamp(k.AddedAt.Add(PromoteAfter)), k.ID)
	return nil
}

func (c *cli) keysPromote(ctx context.Context, o *options, args []string) error {
	kid := args[0]
	if err := c.connectSSM(ctx); err != nil {
		return err
	}
	ttl, err := c.accessTTL()
	if err != nil {
		return err
	}
	priv, read, err := c.readPrivate(ctx)
	if err != nil {
		return err
	}
	now := c.env.Now()
	old := priv.Signing()
	next, err := priv.Promote(kid, now)
	switch {
	case errors.Is(err, keys.ErrUnknownKey):
		return notFound("no key %s in %s (see `sessionctl keys list`)", printable(kid), c.params.private)
	case errors.Is(err, keys.ErrAlreadyFirst):
		fmt.Fprintf(c.env.Stdout, "key %s already signs; nothing changed\n", kid)
		return nil
	case err != nil:
		return err
	}
	k, _ := priv.Lookup(kid)
	pub, err := c.readPublic(ctx, priv)
	if err != nil {
		return err
	}
	from, since := promoteFrom(k, pub)
	var refusal string
	switch {
	case pub.set == nil:
		refusal = fmt.Sprintf("the public key set %s cannot be read (%s): run `sessionctl keys publish`, then promote %s after %s", c.params.public, pub.problem, kid, PromoteAfter)
	case !inSet(pub.set, kid):
		refusal = fmt.Sprintf("key %s is not in the public key set %s: run `sessionctl keys publish`, then promote it after %s", kid, c.params.public, PromoteAfter)
	case from.IsZero():
		refusal = fmt.Sprintf("key %s has no Added-At time, so sessionctl cannot tell whether every verifier knows it", kid)
	case now.Before(from):
		refusal = fmt.Sprintf("key %s may sign from %s, %s after %s, so that every function and every cached JWKS knows it first", kid, stamp(from), PromoteAfter, since)
	}
	if refusal != "" {
		if !o.force {
			return &usageError{msg: "keys promote: " + refusal + " (--force overrides)", hint: "usage: sessionctl keys promote KID [--force]"}
		}
		c.warn("promoting anyway (--force): %s; until the verifiers know it, the access tokens it signs are refused", refusal)
	}
	if err := c.writeSets(ctx, next, read); err != nil {
		return err
	}
	c.keyRotated(ctx, "promote", kid, "forced", refusal != "")
	fmt.Fprintf(c.env.Stdout, "key %s signs once the functions reload the private key set; the previous signing key %s still verifies and may be retired from %s: then run `sessionctl keys retire %s`\n",
		kid, old.ID, stamp(retireFrom(next.Signing(), ttl)), old.ID)
	return nil
}

func inSet(s *keys.Set, kid string) bool {
	_, ok := s.Lookup(kid)
	return ok
}

func (c *cli) keysRetire(ctx context.Context, o *options, args []string) error {
	kid := args[0]
	if err := c.connectSSM(ctx); err != nil {
		return err
	}
	ttl, err := c.accessTTL()
	if err != nil {
		return err
	}
	priv, read, err := c.readPrivate(ctx)
	if err != nil {
		return err
	}
	signing := priv.Signing()
	next, err := priv.Retire(kid)
	switch {
	case errors.Is(err, keys.ErrUnknownKey):
		return notFound("no key %s in %s (see `sessionctl keys list`)", printable(kid), c.params.private)
	case errors.Is(err, keys.ErrSigningKey):
		return &usageError{msg: fmt.Sprintf("keys retire: key %s is the signing key; add and promote another key first (`sessionctl keys add`)", kid),
			hint: "usage: sessionctl keys retire KID [--force]"}
	case err != nil:
		return err
	}
	from := retireFrom(signing, ttl)
	var refusal string
	switch {
	case from.IsZero():
		refusal = fmt.Sprintf("the signing key %s has no Promoted-At time, so sessionctl cannot tell whether tokens signed by %s are still valid", signing.ID, kid)
	case c.env.Now().Before(from):
		refusal = fmt.Sprintf("keys other than the signing key may be retired from %s, %s after %s was promoted at %s (ACCESS_TOKEN_TTL %s), so that every function signs with it and the last token %s signed has expired",
			stamp(from), RetireAfter(ttl), signing.ID, stamp(signing.PromotedAt), ttl, kid)
	}
	if refusal != "" {
		if !o.force {
			return &usageError{msg: "keys retire: " + refusal + " (--force overrides)", hint: "usage: sessionctl keys retire KID [--force]"}
		}
		c.warn("retiring anyway (--force): %s; access tokens %s signed are refused once the verifiers reload", refusal, kid)
	}
	if err := c.writeSets(ctx, next, read); err != nil {
		return err
	}
	c.keyRotated(ctx, "retire", kid, "forced", refusal != "")
	fmt.Fprintf(c.env.Stdout, "retired key %s: the functions drop it when they reload the key sets; %d key(s) left, %s signs\n", kid, len(next.Keys()), signing.ID)
	return nil
}

func (c *cli) keysPublish(ctx context.Context, _ *options, _ []string) error {
	if err := c.connectSSM(ctx); err != nil {
		return err
	}
	priv, _, err := c.readPrivate(ctx)
	if err != nil {
		return err
	}
	pub, err := c.readPublic(ctx, priv)
	if err != nil {
		return err
	}
	if pub.matches {
		fmt.Fprintf(c.env.Stdout, "public key set %s already matches the private key set %s; nothing written\n", c.params.public, c.params.private)
		return nil
	}
	if err := c.publish(ctx, priv); err != nil {
		return fmt.Errorf("writing the public key set to %s: %w", c.params.public, err)
	}
	kids := make([]string, 0, len(priv.Keys()))
	for _, k := range priv.Keys() {
		kids = append(kids, k.ID)
	}
	c.keyRotated(ctx, "publish", priv.Signing().ID)
	fmt.Fprintf(c.env.Stdout, "published %s to %s (it was out of date: %s)\n", strings.Join(kids, ", "), c.params.public, pub.problem)
	return nil
}
