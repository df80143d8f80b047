package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sort"

	"github.com/example/sessions/internal/app"
	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/samtemplate"
)

// Local defaults for what a deployed stack gets from CloudFormation.
const (
	// DefaultTableName names the table when TABLE_NAME is unset (deployed, it is the
	// SessionsTable resource's generated name).
	DefaultTableName = "sessions-local"
	// devKeyFile is the development private key set, under the cache folder; the
	// public key set and the refresh-token key sit beside it (devPublicFile,
	// devRefreshFile), made from it once.
	devKeyFile     = "dev-signing-key.pem"
	devPublicFile  = "dev-public-keys.json"
	devRefreshFile = "dev-refresh-key"
	// localRegion is the region used when none is configured; DynamoDB Local runs
	// with -sharedDb, so every region sees the same tables anyway.
	localRegion = "us-east-1"
)

// notFromTemplate are the template's environment variables that local runs never take
// from it: TABLE_NAME, ISSUER and AUDIENCE get local defaults below, a deployed SSM
// parameter name would point a local run at SSM, and the endpoint is handled apart.
var notFromTemplate = map[string]bool{
	"TABLE_NAME":                true,
	"ISSUER":                    true,
	"AUDIENCE":                  true,
	"SIGNING_KEY_PARAMETER":     true,
	"PUBLIC_KEYS_PARAMETER":     true,
	"REFRESH_KEY_PARAMETER":     true,
	"AWS_ENDPOINT_URL_DYNAMODB": true,
}

// templateEnv is every variable some function of the template declares, with its
// value there (the functions agree on shared ones: a test checks).
func templateEnv(tmpl *samtemplate.Template) map[string]string {
	env := map[string]string{}
	for _, f := range app.Functions {
		maps.Copy(env, tmpl.FunctionEnv(f.Name))
	}
	return env
}

// localEnv returns the variables to set for a local run: for each one that getenv
// reports unset (or empty, which config.FromEnv treats alike), its local default.
// The signing key is handled by applyLocalEnv.
func localEnv(getenv func(string) string, tmpl *samtemplate.Template, issuer string) map[string]string {
	set := map[string]string{}
	def := func(name, value string) {
		if getenv(name) == "" && value != "" {
			set[name] = value
		}
	}
	env := templateEnv(tmpl)
	def("TABLE_NAME", DefaultTableName)
	def("ISSUER", issuer)
	def("AUDIENCE", env["AUDIENCE"])
	// The durations etc.: the template's parameter defaults, so local and deployed
	// runs agree.
	for name, value := range env {
		if !notFromTemplate[name] {
			def(name, value)
		}
	}
	// The SDK: a region and dummy credentials unless some are configured. DynamoDB
	// Local accepts any.
	if getenv("AWS_REGION") == "" && getenv("AWS_DEFAULT_REGION") == "" && getenv("AWS_PROFILE") == "" {
		set["AWS_REGION"] = localRegion
	}
	if getenv("AWS_ACCESS_KEY_ID") == "" && getenv("AWS_PROFILE") == "" {
		set["AWS_ACCESS_KEY_ID"] = "local"
		set["AWS_SECRET_ACCESS_KEY"] = "local"
	}
	return set
}

// applyLocalEnv sets the local defaults through setenv and returns the sorted names
// it set. Key material that no variable names comes from cacheDir: a development
// private key set (made once), its public half (rewritten from whichever private set is
// configured, so the two always match) and a development refresh-token key.
func applyLocalEnv(getenv func(string) string, setenv func(string, string) error, tmpl *samtemplate.Template, issuer, cacheDir string) ([]string, error) {
	set := localEnv(getenv, tmpl, issuer)
	unset := func(prefix string) bool {
		return getenv(prefix+"_PARAMETER") == "" && getenv(prefix+"_FILE") == "" && getenv(prefix) == ""
	}
	private := config.KeySource{Parameter: getenv("SIGNING_KEY_PARAMETER"), File: getenv("SIGNING_KEY_FILE"), Value: getenv("SIGNING_KEY")}
	if unset("SIGNING_KEY") {
		path := filepath.Join(cacheDir, devKeyFile)
		if err := ensureFile(path, func() ([]byte, error) { return keys.Generate(keys.EdDSA) }); err != nil {
			return nil, fmt.Errorf("development signing key: %w", err)
		}
		set["SIGNING_KEY_FILE"], private = path, config.KeySource{File: path}
	}
	if unset("PUBLIC_KEYS") && private.Parameter == "" {
		ks, err := keys.LoadPrivate(context.Background(), private, nil)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(cacheDir, devPublicFile)
		if err := os.MkdirAll(cacheDir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, ks.JWKS(), 0o644); err != nil {
			return nil, fmt.Errorf("development public keys: %w", err)
		}
		set["PUBLIC_KEYS_FILE"] = path
	}
	if unset("REFRESH_KEY") {
		path := filepath.Join(cacheDir, devRefreshFile)
		if err := ensureFile(path, func() ([]byte, error) { k, err := keys.NewRefreshKey(); return []byte(k), err }); err != nil {
			return nil, fmt.Errorf("development refresh-token key: %w", err)
		}
		set["REFRESH_KEY_FILE"] = path
	}
	names := make([]string, 0, len(set))
	for name, value := range set {
		if err := setenv(name, value); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// ensureFile creates a secret file at path (mode 0600) from make unless a file is
// there. The file appears whole or not at all, and two starts racing make one.
func ensureFile(path string, make func() ([]byte, error)) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := make()
	if err != nil {
		return err
	}
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	tmp := path + ".tmp-" + hex.EncodeToString(suffix[:])
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	defer os.Remove(tmp)
	// Link, unlike Rename, never replaces a file another start made meanwhile.
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}
