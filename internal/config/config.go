// Package config reads the service's settings from environment variables.
//
// Every function, the local server and the admin command read the same names, so
// template.yaml, local/ and the code tell the same story. A bad value is an error at
// start-up, never a silent default.
package config

import (
	"errors"
	"fmt"
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

// KeySource says where the PEM key set comes from; exactly one field is set.
type KeySource struct {
	Parameter string // SIGNING_KEY_PARAMETER: SSM SecureString name (AWS)
	File      string // SIGNING_KEY_FILE: path of a PEM file (local)
	PEM       string // SIGNING_KEY: the PEM itself (local, tests)
}

// Config is the whole configuration of the service.
type Config struct {
	TableName            string
	Issuer               string
	Audience             string
	AccessTokenTTL       time.Duration
	RefreshTokenTTL      time.Duration
	SessionMaxAge        time.Duration
	RefreshReuseGrace    time.Duration
	TokenVersionCacheTTL time.Duration
	SigningKey           KeySource
}

// FromEnv reads the configuration through getenv (os.Getenv in production, a map in
// tests). It reports every problem at once so one failed start shows them all.
func FromEnv(getenv func(string) string) (Config, error) {
	var errs []error
	str := func(name string) string { return strings.TrimSpace(getenv(name)) }
	required := func(name string) string {
		v := str(name)
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
		}
		return v
	}
	duration := func(name string, def, min, max time.Duration) time.Duration {
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
			errs = append(errs, fmt.Errorf("%s=%s is out of range [%s, %s]", name, d, min, max))
		}
		return d
	}

	c := Config{
		TableName:            required("TABLE_NAME"),
		Issuer:               required("ISSUER"),
		Audience:             required("AUDIENCE"),
		AccessTokenTTL:       duration("ACCESS_TOKEN_TTL", DefaultAccessTokenTTL, time.Minute, 24*time.Hour),
		RefreshTokenTTL:      duration("REFRESH_TOKEN_TTL", DefaultRefreshTokenTTL, time.Minute, 365*24*time.Hour),
		SessionMaxAge:        duration("SESSION_MAX_AGE", DefaultSessionMaxAge, time.Minute, 365*24*time.Hour),
		RefreshReuseGrace:    duration("REFRESH_REUSE_GRACE", DefaultRefreshReuseGrace, 0, time.Minute),
		TokenVersionCacheTTL: duration("TOKEN_VERSION_CACHE_TTL", 0, 0, 5*time.Minute),
		SigningKey: KeySource{
			Parameter: str("SIGNING_KEY_PARAMETER"),
			File:      str("SIGNING_KEY_FILE"),
			PEM:       getenv("SIGNING_KEY"),
		},
	}
	if c.AccessTokenTTL > c.RefreshTokenTTL {
		errs = append(errs, fmt.Errorf("ACCESS_TOKEN_TTL (%s) must not exceed REFRESH_TOKEN_TTL (%s)", c.AccessTokenTTL, c.RefreshTokenTTL))
	}
	if c.RefreshTokenTTL > c.SessionMaxAge {
		errs = append(errs, fmt.Errorf("REFRESH_TOKEN_TTL (%s) must not exceed SESSION_MAX_AGE (%s)", c.RefreshTokenTTL, c.SessionMaxAge))
	}
	n := 0
	for _, v := range []string{c.SigningKey.Parameter, c.SigningKey.File, c.SigningKey.PEM} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		errs = append(errs, errors.New("set exactly one of SIGNING_KEY_PARAMETER, SIGNING_KEY_FILE, SIGNING_KEY"))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}
