package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/samtemplate"
)

// Local defaults for what a deployed stack gets from CloudFormation.
const (
	// DefaultTableName names the table when TABLE_NAME is unset (deployed, it is the
	// SessionsTable resource's generated name).
	DefaultTableName = "sessions-local"
	// devKeyFile is the development signing key, under the cache folder.
	devKeyFile = "dev-signing-key.pem"
	// localRegion is the region used when none is configured; DynamoDB Local runs
	// with -sharedDb, so every region sees the same tables anyway.
	localRegion = "us-east-1"
	// identityHeader is the authorizer's identity source (template.yaml's
	// HttpApi Auth.Authorizers.*.Identity.Headers).
	identityHeader = "Authorization"
)

// notFromTemplate are the template's environment variables that local runs never take
// from it: TABLE_NAME, ISSUER and AUDIENCE get local defaults below, a deployed SSM
// parameter name would point a local run at SSM, and the endpoint is handled apart.
var notFromTemplate = map[string]bool{
	"TABLE_NAME":                true,
	"ISSUER":                    true,
	"AUDIENCE":                  true,
	"SIGNING_KEY_PARAMETER":     true,
	"AWS_ENDPOINT_URL_DYNAMODB": true,
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
	env := tmpl.Env()
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
// it set. If no SIGNING_KEY_* variable is set it makes sure a development key exists
// in cacheDir and sets SIGNING_KEY_FILE to it.
func applyLocalEnv(getenv func(string) string, setenv func(string, string) error, tmpl *samtemplate.Template, issuer, cacheDir string) ([]string, error) {
	set := localEnv(getenv, tmpl, issuer)
	if getenv("SIGNING_KEY_PARAMETER") == "" && getenv("SIGNING_KEY_FILE") == "" && getenv("SIGNING_KEY") == "" {
		path := filepath.Join(cacheDir, devKeyFile)
		if err := ensureDevKey(path); err != nil {
			return nil, err
		}
		set["SIGNING_KEY_FILE"] = path
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

// ensureDevKey creates an EdDSA key set at path (mode 0600) unless a file is there.
// The file appears whole or not at all, and two starts racing make one key.
func ensureDevKey(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("development signing key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("development signing key: %w", err)
	}
	pemBytes, err := keys.Generate(keys.EdDSA)
	if err != nil {
		return fmt.Errorf("development signing key: %w", err)
	}
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	tmp := path + ".tmp-" + hex.EncodeToString(suffix[:])
	if err := os.WriteFile(tmp, pemBytes, 0o600); err != nil {
		return fmt.Errorf("development signing key: %w", err)
	}
	defer os.Remove(tmp)
	// Link, unlike Rename, never replaces a key another start made meanwhile.
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("development signing key: %w", err)
	}
	return nil
}
