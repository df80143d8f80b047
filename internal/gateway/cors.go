package gateway

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// CORS is an HTTP API's CORS configuration: the CorsConfiguration of an
// AWS::ApiGatewayV2::Api (AWS::Serverless::HttpApi), which is the
// x-amazon-apigateway-cors object of its OpenAPI definition. The package
// documentation says what the gateway does with it.
//
// What AWS documents (developer guide, "Configure CORS for HTTP APIs"): with a
// CORS configuration, API Gateway answers preflight OPTIONS requests itself
// even without an OPTIONS route, adds the configured headers to the answers of
// CORS requests (those with an Origin header; a preflight also needs
// Access-Control-Request-Method), ignores the CORS headers an integration
// returns, and refuses AllowCredentials with the "*" origin. What this
// emulation adds from observation, where AWS documents nothing: the preflight
// answer is 204 without a body; "*" is answered as "*"; header names are kept
// in lower case (API Gateway stores AllowHeaders and ExposeHeaders so) and
// methods as written; a preflight for a method or header that is not allowed,
// or from an origin that is not, gets the 204 without any CORS header (a
// browser fails it either way); no Vary header is added.
type CORS struct {
	// AllowOrigins are the origins that may read answers, each compared with
	// the request's Origin header exactly as written
	// ("https://app.example.com"), or "*" for any origin (answered as "*").
	// Other wildcards ("https://*") are refused by New: not emulated.
	AllowOrigins []string
	// AllowCredentials sends Access-Control-Allow-Credentials: true, so a
	// browser sends cookies and Authorization and lets the page read the
	// answer. New refuses it with the "*" origin, as API Gateway does.
	AllowCredentials bool
	// AllowHeaders are the request headers a preflight may ask for
	// (Access-Control-Request-Headers), compared case-insensitively. "*" is
	// refused by New: not emulated.
	AllowHeaders []string
	// AllowMethods are the methods a preflight may ask for
	// (Access-Control-Request-Method), compared exactly. "*" is refused by
	// New: not emulated.
	AllowMethods []string
	// ExposeHeaders are the answer headers, beyond the CORS-safelisted ones,
	// that a browser lets the page read (Access-Control-Expose-Headers, on
	// answers that are not preflights). "*" is refused by New: not emulated.
	ExposeHeaders []string
	// MaxAge is how many seconds a browser may cache a preflight answer
	// (Access-Control-Max-Age); nil sends no such header.
	MaxAge *int
}

// CORS header names.
const (
	hdrAllowOrigin      = "Access-Control-Allow-Origin"
	hdrAllowCredentials = "Access-Control-Allow-Credentials"
	hdrAllowMethods     = "Access-Control-Allow-Methods"
	hdrAllowHeaders     = "Access-Control-Allow-Headers"
	hdrExposeHeaders    = "Access-Control-Expose-Headers"
	hdrMaxAge           = "Access-Control-Max-Age"
	hdrRequestMethod    = "Access-Control-Request-Method"
	hdrRequestHeaders   = "Access-Control-Request-Headers"
	corsHeaderPrefix    = "Access-Control-"
	anyOrigin           = "*"
)

// corsPolicy is a checked CORS configuration with its header values ready.
type corsPolicy struct {
	anyOrigin   bool
	origins     map[string]bool
	credentials bool
	headers     map[string]bool // lower case
	methods     map[string]bool
	// The header values: "" sends no header.
	allowHeaders, allowMethods, exposeHeaders, maxAge string
}

// newCORSPolicy checks c as API Gateway would (and refuses what is not
// emulated) and prepares its header values.
func newCORSPolicy(c *CORS) (*corsPolicy, error) {
	p := &corsPolicy{
		origins:     make(map[string]bool, len(c.AllowOrigins)),
		credentials: c.AllowCredentials,
		headers:     make(map[string]bool, len(c.AllowHeaders)),
		methods:     make(map[string]bool, len(c.AllowMethods)),
	}
	for _, o := range c.AllowOrigins {
		switch {
		case o == anyOrigin:
			p.anyOrigin = true
		case o == "":
			return nil, fmt.Errorf("gateway: CORS: an empty origin")
		case strings.Contains(o, "*"):
			return nil, fmt.Errorf("gateway: CORS: the origin wildcard %q is not emulated", o)
		default:
			p.origins[o] = true
		}
	}
	if p.anyOrigin && p.credentials {
		// API Gateway's own words (BadRequestException on CreateApi/UpdateApi).
		return nil, fmt.Errorf("gateway: CORS: allow-credentials is not supported if 'allow-origin' is *")
	}
	names := func(what string, list []string, lower bool, set map[string]bool) (string, error) {
		out := make([]string, 0, len(list))
		for _, v := range list {
			v = strings.TrimSpace(v)
			switch {
			case v == "":
				return "", fmt.Errorf("gateway: CORS: an empty name in %s", what)
			case strings.Contains(v, "*"):
				return "", fmt.Errorf("gateway: CORS: the wildcard in %s is not emulated", what)
			}
			if lower {
				v = strings.ToLower(v)
			}
			if set != nil {
				set[v] = true
			}
			out = append(out, v)
		}
		return strings.Join(out, ","), nil
	}
	var err error
	if p.allowHeaders, err = names("AllowHeaders", c.AllowHeaders, true, p.headers); err != nil {
		return nil, err
	}
	if p.allowMethods, err = names("AllowMethods", c.AllowMethods, false, p.methods); err != nil {
		return nil, err
	}
	if p.exposeHeaders, err = names("ExposeHeaders", c.ExposeHeaders, true, nil); err != nil {
		return nil, err
	}
	if c.MaxAge != nil {
		if *c.MaxAge < 0 {
			return nil, fmt.Errorf("gateway: CORS: a negative MaxAge (%d) is not emulated", *c.MaxAge)
		}
		p.maxAge = strconv.Itoa(*c.MaxAge)
	}
	return p, nil
}

// allowedOrigin returns the Access-Control-Allow-Origin value for r, and
// false if r is no CORS request (no Origin, or more than one) or its origin is
// not allowed.
func (p *corsPolicy) allowedOrigin(r *http.Request) (string, bool) {
	vals := r.Header.Values("Origin")
	if len(vals) != 1 || vals[0] == "" {
		return "", false
	}
	if p.anyOrigin {
		return anyOrigin, true
	}
	return vals[0], p.origins[vals[0]]
}

// responseHeaders are the CORS headers of every answer to r that is not a
// preflight; nil if r's origin is not allowed.
func (p *corsPolicy) responseHeaders(r *http.Request) http.Header {
	origin, ok := p.allowedOrigin(r)
	if !ok {
		return nil
	}
	h := http.Header{hdrAllowOrigin: {origin}}
	if p.credentials {
		h.Set(hdrAllowCredentials, "true")
	}
	if p.exposeHeaders != "" {
		h.Set(hdrExposeHeaders, p.exposeHeaders)
	}
	return h
}

// preflightHeaders are the CORS headers of the gateway's answer to an OPTIONS
// request that no route takes: nil unless it is a preflight from an allowed
// origin asking for an allowed method and only allowed headers.
func (p *corsPolicy) preflightHeaders(r *http.Request) http.Header {
	origin, ok := p.allowedOrigin(r)
	if !ok {
		return nil
	}
	if method := r.Header.Get(hdrRequestMethod); method == "" || !p.methods[method] {
		return nil
	}
	for _, line := range r.Header.Values(hdrRequestHeaders) {
		for name := range strings.SplitSeq(line, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "" && !p.headers[name] {
				return nil
			}
		}
	}
	h := http.Header{hdrAllowOrigin: {origin}}
	if p.credentials {
		h.Set(hdrAllowCredentials, "true")
	}
	if p.allowMethods != "" {
		h.Set(hdrAllowMethods, p.allowMethods)
	}
	if p.allowHeaders != "" {
		h.Set(hdrAllowHeaders, p.allowHeaders)
	}
	if p.maxAge != "" {
		h.Set(hdrMaxAge, p.maxAge)
	}
	return h
}

// corsWriter puts the CORS policy on whatever answer goes out through it, the
// gateway's own ones included: just before the status line it drops every
// Access-Control-* header already set (a function's, which API Gateway
// ignores) and adds headers.
type corsWriter struct {
	http.ResponseWriter
	// headers are the CORS headers to send; nil sends none.
	headers http.Header
	wrote   bool
}

// WriteHeader applies the policy, then writes the status.
func (w *corsWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		h := w.ResponseWriter.Header()
		for name := range h {
			if strings.HasPrefix(http.CanonicalHeaderKey(name), corsHeaderPrefix) {
				delete(h, name)
			}
		}
		for name, vals := range w.headers {
			h[name] = vals
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write writes the status first if it is not written yet, as net/http does.
func (w *corsWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the server's writer.
func (w *corsWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serverWriter is the server's own writer under a corsWriter, which
// http.MaxBytesReader needs to close the connection after an oversized body.
func serverWriter(w http.ResponseWriter) http.ResponseWriter {
	if cw, ok := w.(*corsWriter); ok {
		return cw.ResponseWriter
	}
	return w
}

// answerPreflight answers an OPTIONS request that no route takes, on an API
// with CORS (w is then a corsWriter): 204, no body, and the preflight's CORS
// headers if it is one the policy permits.
func (g *gateway) answerPreflight(w *corsWriter, r *http.Request) int {
	w.headers = g.cors.preflightHeaders(r)
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent
}
