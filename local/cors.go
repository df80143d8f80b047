package main

import (
	"fmt"
	"strings"

	"github.com/example/sessions/internal/gateway"
	"github.com/example/sessions/internal/samtemplate"
)

// corsParameters are the template parameters of the HTTP API's CORS that a local run
// takes from the environment, as `sam deploy --parameter-overrides` sets them for a
// stack. Unset, they keep the template's defaults: CORS off.
var corsParameters = []struct{ env, param string }{
	{"CORS_ORIGINS", "CorsOrigins"},
	{"CORS_PREFLIGHT_CACHE_TTL", "CorsPreflightCacheTtl"},
}

// corsOf returns the CORS configuration template.yaml gives the HTTP API for the
// parameters getenv sets, in the local gateway's terms (nil: CORS off), so that the
// local server answers preflights and adds CORS headers exactly where the deployed
// API would. A value CloudFormation would refuse is refused here too.
func corsOf(tmpl *samtemplate.Template, getenv func(string) string) (*gateway.CORS, error) {
	params := map[string]string{}
	for _, p := range corsParameters {
		v := getenv(p.env)
		if v == "" {
			continue
		}
		if err := tmpl.CheckParameter(p.param, v); err != nil {
			return nil, fmt.Errorf("%s: %w", p.env, err)
		}
		params[p.param] = v
	}
	c, err := tmpl.CORS(httpAPIResource, samtemplate.Deployment{Parameters: params})
	if err != nil || c == nil {
		return nil, err
	}
	return &gateway.CORS{
		AllowOrigins:     c.AllowOrigins,
		AllowCredentials: c.AllowCredentials,
		AllowHeaders:     c.AllowHeaders,
		AllowMethods:     c.AllowMethods,
		ExposeHeaders:    c.ExposeHeaders,
		MaxAge:           c.MaxAge,
	}, nil
}

// corsSummary is the banner's line on CORS.
func corsSummary(c *gateway.CORS) string {
	if c == nil {
		return "off (CORS_ORIGINS names the origins allowed)"
	}
	s := strings.Join(c.AllowOrigins, " ")
	if c.AllowCredentials {
		s += ", with credentials"
	}
	if c.MaxAge != nil {
		s += fmt.Sprintf(", preflights cached %ds", *c.MaxAge)
	}
	return s
}
