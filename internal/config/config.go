// Package config reads the service's settings from environment variables.
//
// Every function, the local server and the admin command read the same names, so
// template.yaml, local/ and the code tell the same story. Each function reads only the
// settings it uses (a Use set, see internal/app's function list), so a function's
// environment in template.yaml is exactly Use.Variables. A bad value is an error at
// start-up, never a silent default.
package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Defaults for the optional settings.
const (
	DefaultAccessTokenTTL    = 15 * time.Minute
	DefaultRefreshTokenTTL   = 14 * 24 * time.Hour
	DefaultSessionMaxAge     = 30 * 24 * time.Hour
	DefaultRefreshReuseGrace = 10 * time.Second
)

// Time budget of a request that writes. A handler gives storage at most StorageTimeout
// (and never more than the Lambda's deadline allows); when that runs out it answers 503
// with Retry-After: RetryAfter. A client that follows that advice retries the same
// refresh token at most StorageTimeout + RetryAfter after its first request, and must
// then still be inside REFRESH_REUSE_GRACE, or its own retry would look like a replay
// of an old token (theft). FromEnv refuses a grace window too short for that.
const (
	StorageTimeout = 3 * time.Second
	RetryAfter     = time.Second
	// retryMargin covers the client's round trips and clock reading.
	retryMargin = time.Second
	// MinReuseGrace is the shortest REFRESH_REUSE_GRACE the service accepts.
	MinReuseGrace = StorageTimeout + RetryAfter + retryMargin
)

// Use is a set of settings a function reads.
type Use uint

// The settings, grouped as the functions use them.
const (
	UseTable        Use = 1 << iota // TABLE_NAME
	UseClaims                       // ISSUER, AUDIENCE
	UseAccessTTL                    // ACCESS_TOKEN_TTL
	UseLifetimes                    // REFRESH_TOKEN_TTL, SESSION_MAX_AGE
	UseReuseGrace                   // REFRESH_REUSE_GRACE
	UseSessionLimit                 // MAX_SESSIONS_PER_USER
	UseAccessCookie                 // ACCESS_TOKEN_COOKIE
	UseSigningKey                   // the private key set that signs access tokens
	UsePublicKeys                   // the public key set (JWKS) that verifies them
	UseRefreshKey                   // the secret that derives refresh-token chains
	UseMetrics                      // METRICS_NAMESPACE

	// UseAll is every setting: the local server and the tests, which run every
	// function in one process.
	UseAll = UseTable | UseClaims | UseAccessTTL | UseLifetimes | UseReuseGrace |
		UseSessionLimit | UseAccessCookie | UseSigningKey | UsePublicKeys | UseRefreshKey | UseMetrics
)

// KeySource says where one piece of key material comes from; at most one field is set.
// Deployed functions read an SSM parameter; the local server and tests use a file or
// the value itself.
type KeySource struct {
	Parameter string // <PREFIX>_PARAMETER: SSM parameter name (AWS)
	File      string // <PREFIX>_FILE: path of a file (local)
	Value     string // <PREFIX>: the material itself (local, tests, sam local)
}

// Set reports whether any source is configured.
func (k KeySource) Set() bool { return k.Parameter != "" || k.File != "" || k.Value != "" }

// keySource is one kind of key material and the variables that may name it.
type keySource struct {
	use    Use
	prefix string
}

// The three kinds of key material. Each function is given only the kinds it uses, so
// no function can read a secret it does not need (see SECURITY.md, "Key material").
var keySources = []keySource{
	{UseSigningKey, "SIGNING_KEY"},
	{UsePublicKeys, "PUBLIC_KEYS"},
	{UseRefreshKey, "REFRESH_KEY"},
}

// Config is the whole configuration of the service; settings a function does not use
// are zero.
type Config struct {
	Uses              Use
	TableName         string
	Issuer            string
	Audience          string
	AccessTokenTTL    time.Duration
	RefreshTokenTTL   time.Duration
	SessionMaxAge     time.Duration
	RefreshReuseGrace time.Duration
	// MaxSessionsPerUser is the most sessions a user may have at once; 0 for no limit.
	MaxSessionsPerUser int
	// AccessTokenCookie is cookie-only mode (ACCESS_TOKEN_COOKIE=on): a cookie-transport
	// login, refresh or account answer hands the access token out only as an HttpOnly
	// cookie, and the authorizer accepts it from there (with the transport header, the
	// CSRF guard), so no page script ever holds a token.
	AccessTokenCookie bool
	// MetricsNamespace is the CloudWatch namespace of the function's metrics
	// (internal/metrics).
	MetricsNamespace string
	SigningKey       KeySource // SIGNING_KEY_PARAMETER | SIGNING_KEY_FILE | SIGNING_KEY
	PublicKeys       KeySource // PUBLIC_KEYS_PARAMETER | PUBLIC_KEYS_FILE | PUBLIC_KEYS
	RefreshKey       KeySource // REFRESH_KEY_PARAMETER | REFRESH_KEY_FILE | REFRESH_KEY
}

// Variables lists the environment variables the settings in u may be read from, in a
// fixed order. A deployed function declares the SSM form of each key source; the
// _FILE and plain forms are for local runs.
func (u Use) Variables() []string {
	var names []string
	add := func(bit Use, vars ...string) {
		if u&bit != 0 {
			names = append(names, vars...)
		}
	}
	add(UseTable, "TABLE_NAME")
	add(UseClaims, "ISSUER", "AUDIENCE")
	add(UseAccessTTL, "ACCESS_TOKEN_TTL")
	add(UseLifetimes, "REFRESH_TOKEN_TTL", "SESSION_MAX_AGE")
	add(UseReuseGrace, "REFRESH_REUSE_GRACE")
	add(UseSessionLimit, "MAX_SESSIONS_PER_USER")
	add(UseAccessCookie, "ACCESS_TOKEN_COOKIE")
	add(UseMetrics, "METRICS_NAMESPACE")
	for _, k := range keySources {
		add(k.use, k.prefix+"_PARAMETER", k.prefix+"_FILE", k.prefix)
	}
	return names
}

// DefaultMaxSessionsPerUser is MAX_SESSIONS_PER_USER's default.
const DefaultMaxSessionsPerUser = 10

// MaxSessionLimit is the largest MAX_SESSIONS_PER_USER: with at most this many
// sessions, ending them all (logout everywhere, a password change, a disable) is one
// transaction of at most 100 items (the sessions, the two user records and the kept
// session), and the login record stays well under 4 KB.
const MaxSessionLimit = 97

// DefaultMetricsNamespace is METRICS_NAMESPACE's default (the template's MetricsNamespace).
const DefaultMetricsNamespace = "Sessions"

// validNamespace reports whether s is a CloudWatch namespace PutMetricData accepts: 1 to
// 255 of A-Z a-z 0-9 . - _ / # : and space, not only spaces, not starting with "AWS/".
func validNamespace(s string) bool {
	if s == "" || len(s) > 255 || strings.TrimSpace(s) == "" || strings.HasPrefix(s, "AWS/") {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune(".-_/#: ", c)) {
			return false
		}
	}
	return true
}

// FromEnv reads the settings in u through getenv (os.Getenv in production, a map in
// tests). It reports every problem at once so one failed start shows them all.
func FromEnv(getenv func(string) string, u Use) (Config, error) {
	var errs []error
	str := func(name string) string { return strings.TrimSpace(getenv(name)) }
	required := func(bit Use, name string) string {
		if u&bit == 0 {
			return ""
		}
		v := str(name)
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
		}
		return v
	}
	duration := func(bit Use, name string, def, min, max time.Duration) time.Duration {
		if u&bit == 0 {
			return 0
		}
		v := str(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q is not a Go duration such as \"15m\"", name, v))
			return def
		}
		if d < min || d > max {
			err := fmt.Errorf("%s=%s is out of range [%s, %s]", name, d, min, max)
			if name == "REFRESH_REUSE_GRACE" && d < min {
				err = fmt.Errorf("%w: a client that retries a refresh after a 503, as told (up to %s of storage time, then Retry-After %s), must still be inside the grace window, or its retry is taken for theft", err, StorageTimeout, RetryAfter)
			}
			errs = append(errs, err)
		}
		return d
	}

	c := Config{
		Uses:              u,
		TableName:         required(UseTable, "TABLE_NAME"),
		Issuer:            required(UseClaims, "ISSUER"),
		Audience:          required(UseClaims, "AUDIENCE"),
		AccessTokenTTL:    duration(UseAccessTTL, "ACCESS_TOKEN_TTL", DefaultAccessTokenTTL, time.Minute, 24*time.Hour),
		RefreshTokenTTL:   duration(UseLifetimes, "REFRESH_TOKEN_TTL", DefaultRefreshTokenTTL, time.Minute, 365*24*time.Hour),
		SessionMaxAge:     duration(UseLifetimes, "SESSION_MAX_AGE", DefaultSessionMaxAge, time.Minute, 365*24*time.Hour),
		RefreshReuseGrace: duration(UseReuseGrace, "REFRESH_REUSE_GRACE", DefaultRefreshReuseGrace, MinReuseGrace, time.Minute),
	}
	if u&UseSessionLimit != 0 {
		c.MaxSessionsPerUser = DefaultMaxSessionsPerUser
		if v := str("MAX_SESSIONS_PER_USER"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > MaxSessionLimit {
				errs = append(errs, fmt.Errorf("MAX_SESSIONS_PER_USER=%q must be a whole number from 0 (no limit) to %d", v, MaxSessionLimit))
			} else {
				c.MaxSessionsPerUser = n
			}
		}
	}
	if u&UseAccessCookie != 0 {
		// Exactly the template parameter's AllowedValues: "true" or "1" would be a
		// guess at what the operator meant, and a wrong guess changes who can read tokens.
		switch v := str("ACCESS_TOKEN_COOKIE"); v {
		case "", "off":
		case "on":
			c.AccessTokenCookie = true
		default:
			errs = append(errs, fmt.Errorf("ACCESS_TOKEN_COOKIE=%q must be \"off\" or \"on\"", v))
		}
	}
	if u&UseMetrics != 0 {
		c.MetricsNamespace = DefaultMetricsNamespace
		if v := getenv("METRICS_NAMESPACE"); v != "" {
			if !validNamespace(v) {
				errs = append(errs, fmt.Errorf("METRICS_NAMESPACE=%q is not a CloudWatch namespace (1-255 of A-Z a-z 0-9 . - _ / # : and space, not AWS/...)", v))
			} else {
				c.MetricsNamespace = v
			}
		}
	}
	if u&UseAccessTTL != 0 && u&UseLifetimes != 0 && c.AccessTokenTTL > c.RefreshTokenTTL {
		errs = append(errs, fmt.Errorf("ACCESS_TOKEN_TTL (%s) must not exceed REFRESH_TOKEN_TTL (%s)", c.AccessTokenTTL, c.RefreshTokenTTL))
	}
	if u&UseLifetimes != 0 && c.RefreshTokenTTL > c.SessionMaxAge {
		errs = append(errs, fmt.Errorf("REFRESH_TOKEN_TTL (%s) must not exceed SESSION_MAX_AGE (%s)", c.RefreshTokenTTL, c.SessionMaxAge))
	}
	for _, k := range keySources {
		if u&k.use == 0 {
			continue
		}
		src := KeySource{Parameter: str(k.prefix + "_PARAMETER"), File: str(k.prefix + "_FILE"), Value: getenv(k.prefix)}
		n := 0
		for _, v := range []string{src.Parameter, src.File, src.Value} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, fmt.Errorf("set exactly one of %[1]s_PARAMETER, %[1]s_FILE, %[1]s", k.prefix))
		}
		switch k.use {
		case UseSigningKey:
			c.SigningKey = src
		case UsePublicKeys:
			c.PublicKeys = src
		case UseRefreshKey:
			c.RefreshKey = src
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}
