package config

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func env(overrides map[string]string) func(string) string {
	base := map[string]string{
		"TABLE_NAME": "t", "ISSUER": "https://iss", "AUDIENCE": "app",
		"SIGNING_KEY_FILE": "/k.pem", "PUBLIC_KEYS_PARAMETER": "/p", "REFRESH_KEY": "rk",
	}
	for k, v := range overrides {
		base[k] = v
	}
	return func(k string) string { return base[k] }
}

func TestDefaults(t *testing.T) {
	c, err := FromEnv(env(nil), UseAll)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Uses: UseAll, TableName: "t", Issuer: "https://iss", Audience: "app",
		AccessTokenTTL: 15 * time.Minute, RefreshTokenTTL: 336 * time.Hour, SessionMaxAge: 720 * time.Hour,
		RefreshReuseGrace: 10 * time.Second, MaxSessionsPerUser: DefaultMaxSessionsPerUser, SigningKey: KeySource{File: "/k.pem"},
		PublicKeys: KeySource{Parameter: "/p"}, RefreshKey: KeySource{Value: "rk"}, MetricsNamespace: "Sessions",
	}
	if c != want {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
}

func TestTheMetricsNamespaceIsTakenAsGiven(t *testing.T) {
	c, err := FromEnv(env(map[string]string{"METRICS_NAMESPACE": "Sessions/prod-eu #2"}), UseMetrics)
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsNamespace != "Sessions/prod-eu #2" {
		t.Fatalf("MetricsNamespace = %q", c.MetricsNamespace)
	}
}

func TestDurationsAreGoDurations(t *testing.T) {
	c, err := FromEnv(env(map[string]string{"ACCESS_TOKEN_TTL": "5m", "REFRESH_REUSE_GRACE": "5s", "MAX_SESSIONS_PER_USER": "3"}), UseAll)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessTokenTTL != 5*time.Minute || c.RefreshReuseGrace != 5*time.Second || c.MaxSessionsPerUser != 3 {
		t.Fatalf("got %+v", c)
	}
}

func TestBadValuesStopTheStart(t *testing.T) {
	tests := []struct {
		name     string
		override map[string]string
		mention  string
	}{
		{"a missing table name", map[string]string{"TABLE_NAME": ""}, "TABLE_NAME is required"},
		{"a missing issuer", map[string]string{"ISSUER": " "}, "ISSUER is required"},
		{"a missing audience", map[string]string{"AUDIENCE": ""}, "AUDIENCE is required"},
		{"a number without a unit", map[string]string{"ACCESS_TOKEN_TTL": "900"}, "ACCESS_TOKEN_TTL"},
		{"a typo in a duration", map[string]string{"SESSION_MAX_AGE": "30d"}, "SESSION_MAX_AGE"},
		{"a grace window over a minute", map[string]string{"REFRESH_REUSE_GRACE": "5m"}, "REFRESH_REUSE_GRACE"},
		{"a grace window shorter than a 503 and its retry", map[string]string{"REFRESH_REUSE_GRACE": "4s"}, "its retry is taken for theft"},
		{"no grace window at all", map[string]string{"REFRESH_REUSE_GRACE": "0s"}, "REFRESH_REUSE_GRACE=0s is out of range [5s, 1m0s]"},
		{"a negative lifetime", map[string]string{"REFRESH_TOKEN_TTL": "-1h"}, "REFRESH_TOKEN_TTL"},
		{"an access token outliving the idle lifetime", map[string]string{"ACCESS_TOKEN_TTL": "2h", "REFRESH_TOKEN_TTL": "1h"}, "must not exceed REFRESH_TOKEN_TTL"},
		{"an idle lifetime beyond the absolute one", map[string]string{"REFRESH_TOKEN_TTL": "800h"}, "must not exceed SESSION_MAX_AGE"},
		{"no signing key source", map[string]string{"SIGNING_KEY_FILE": ""}, "exactly one of SIGNING_KEY_PARAMETER, SIGNING_KEY_FILE, SIGNING_KEY"},
		{"two signing key sources", map[string]string{"SIGNING_KEY_PARAMETER": "/k"}, "exactly one of SIGNING_KEY_PARAMETER"},
		{"no public key source", map[string]string{"PUBLIC_KEYS_PARAMETER": ""}, "exactly one of PUBLIC_KEYS_PARAMETER, PUBLIC_KEYS_FILE, PUBLIC_KEYS"},
		{"two refresh key sources", map[string]string{"REFRESH_KEY_FILE": "/rk"}, "exactly one of REFRESH_KEY_PARAMETER"},
		{"a session limit that is not a number", map[string]string{"MAX_SESSIONS_PER_USER": "ten"}, "MAX_SESSIONS_PER_USER"},
		{"a negative session limit", map[string]string{"MAX_SESSIONS_PER_USER": "-1"}, "from 0 (no limit) to 97"},
		{"a session limit beyond one transaction", map[string]string{"MAX_SESSIONS_PER_USER": "98"}, "from 0 (no limit) to 97"},
		{"a metrics namespace with a character CloudWatch refuses", map[string]string{"METRICS_NAMESPACE": "Sessions$prod"}, "METRICS_NAMESPACE"},
		{"a metrics namespace of AWS's own", map[string]string{"METRICS_NAMESPACE": "AWS/Lambda"}, "is not a CloudWatch namespace"},
		{"a metrics namespace of spaces only", map[string]string{"METRICS_NAMESPACE": "   "}, "is not a CloudWatch namespace"},
		{"an access-token cookie switch that is neither off nor on", map[string]string{"ACCESS_TOKEN_COOKIE": "true"}, `ACCESS_TOKEN_COOKIE="true" must be "off" or "on"`},
		{"an access-token cookie switch in another case", map[string]string{"ACCESS_TOKEN_COOKIE": "On"}, `must be "off" or "on"`},
	}
	for _, tc := range tests {
		t.Run(tc.name+" is an error that names it", func(t *testing.T) {
			_, err := FromEnv(env(tc.override), UseAll)
			if err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.mention)
			}
		})
	}
	t.Run("every problem is reported at once", func(t *testing.T) {
		_, err := FromEnv(env(map[string]string{"TABLE_NAME": "", "ISSUER": "", "ACCESS_TOKEN_TTL": "x"}), UseAll)
		for _, m := range []string{"TABLE_NAME", "ISSUER", "ACCESS_TOKEN_TTL"} {
			if err == nil || !strings.Contains(err.Error(), m) {
				t.Fatalf("err = %v, want it to mention %s", err, m)
			}
		}
	})
}

func TestAFunctionReadsOnlyWhatItUses(t *testing.T) {
	// Everything a function does not use is absent or nonsense: it must not matter.
	junk := func(k string) string {
		return map[string]string{"ACCESS_TOKEN_TTL": "soon", "SIGNING_KEY": "x", "SIGNING_KEY_FILE": "y"}[k]
	}
	tests := []struct {
		name string
		uses Use
		env  map[string]string
		want Config
	}{
		{"a function that uses nothing needs no variable", 0, nil, Config{}},
		{"a function that verifies needs only the public key set", UsePublicKeys,
			map[string]string{"PUBLIC_KEYS_PARAMETER": "/p"}, Config{Uses: UsePublicKeys, PublicKeys: KeySource{Parameter: "/p"}}},
		{"a function that revokes needs the table and the refresh key", UseTable | UseRefreshKey,
			map[string]string{"TABLE_NAME": "t", "REFRESH_KEY_PARAMETER": "/r"},
			Config{Uses: UseTable | UseRefreshKey, TableName: "t", RefreshKey: KeySource{Parameter: "/r"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := FromEnv(func(k string) string {
				if v, ok := tc.env[k]; ok {
					return v
				}
				if tc.uses&UseSigningKey == 0 && tc.uses&UseAccessTTL == 0 {
					return junk(k)
				}
				return ""
			}, tc.uses)
			if err != nil {
				t.Fatal(err)
			}
			if c != tc.want {
				t.Fatalf("got %+v\nwant %+v", c, tc.want)
			}
		})
	}
}

func TestCookieOnlyModeIsOffUnlessSwitchedOn(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{{"", false}, {"off", false}, {" on ", true}, {"on", true}} {
		t.Run("ACCESS_TOKEN_COOKIE="+strconv.Quote(tc.value)+" is "+map[bool]string{false: "off", true: "on"}[tc.want], func(t *testing.T) {
			c, err := FromEnv(env(map[string]string{"ACCESS_TOKEN_COOKIE": tc.value}), UseAll)
			if err != nil {
				t.Fatal(err)
			}
			if c.AccessTokenCookie != tc.want {
				t.Fatalf("AccessTokenCookie = %v, want %v", c.AccessTokenCookie, tc.want)
			}
		})
	}
	t.Run("a function that does not use it ignores even a bad value", func(t *testing.T) {
		c, err := FromEnv(env(map[string]string{"ACCESS_TOKEN_COOKIE": "yes"}), UseAll&^UseAccessCookie)
		if err != nil || c.AccessTokenCookie {
			t.Fatalf("got %+v, %v", c, err)
		}
	})
}

func TestVariablesNameEachSettingOnce(t *testing.T) {
	got := strings.Join((UseTable | UseRefreshKey).Variables(), " ")
	if want := "TABLE_NAME REFRESH_KEY_PARAMETER REFRESH_KEY_FILE REFRESH_KEY"; got != want {
		t.Fatalf("Variables = %q, want %q", got, want)
	}
	seen := map[string]bool{}
	for _, v := range UseAll.Variables() {
		if seen[v] {
			t.Fatalf("%s listed twice", v)
		}
		seen[v] = true
	}
	if len(seen) != 19 {
		t.Fatalf("UseAll has %d variables, want 19", len(seen))
	}
}
