package main

import (
	"fmt"
	"strings"

	"github.com/example/sessions/internal/samtemplate"
)

// authParameters are the template parameters of the authorizer that a local run takes
// from the environment. ACCESS_TOKEN_COOKIE is at once a variable the functions read
// and the parameter AccessTokenCookie, which also decides the authorizer's identity
// sources (none in cookie-only mode), so the local gateway must take them from the
// template for the same value, as the deployed API does.
var authParameters = []struct{ env, param string }{
	{"ACCESS_TOKEN_COOKIE", "AccessTokenCookie"},
}

// identityOf returns the identity headers template.yaml gives the authorizer for the
// parameters getenv sets (nil: none, the authorizer runs for every protected request).
// A value CloudFormation would refuse, for the parameter or through the template's
// Rules, is refused here too; so is a cached authorizer, which the local gateway does
// not emulate.
func identityOf(tmpl *samtemplate.Template, getenv func(string) string) ([]string, error) {
	params := map[string]string{}
	for _, p := range append(authParameters, corsParameters...) {
		v := getenv(p.env)
		if v == "" {
			continue
		}
		if err := tmpl.CheckParameter(p.param, v); err != nil {
			return nil, fmt.Errorf("%s: %w", p.env, err)
		}
		params[p.param] = v
	}
	d := samtemplate.Deployment{Parameters: params}
	if err := tmpl.CheckRules(d); err != nil {
		return nil, err
	}
	auths, err := tmpl.Authorizers(d)
	if err != nil {
		return nil, err
	}
	if len(auths) != 1 {
		return nil, fmt.Errorf("template.yaml has %d Lambda authorizers; the local gateway serves one", len(auths))
	}
	if a := auths[0]; a.CacheTTL > 0 {
		return nil, fmt.Errorf("the authorizer %s caches decisions for %d s, which the local gateway does not emulate", a.Name, a.CacheTTL)
	}
	return auths[0].IdentityHeaders, nil
}

// identitySummary is the banner's note on a protected route.
func identitySummary(identity []string) string {
	if len(identity) == 0 {
		return "[Lambda authorizer on every request: Authorization or the access cookie]"
	}
	return "[Lambda authorizer, identity: " + strings.Join(identity, ", ") + "]"
}
