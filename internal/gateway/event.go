package gateway

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// timeLayout is the layout of requestContext.time ("21/Apr/2020:15:08:21 +0000").
const timeLayout = "02/Jan/2006:15:04:05 -0700"

// hopByHop are headers that describe the client's connection to API Gateway,
// not the request, and so do not reach the integration.
var hopByHop = map[string]bool{
	"connection":        true,
	"keep-alive":        true,
	"proxy-connection":  true,
	"te":                true,
	"trailer":           true,
	"transfer-encoding": true,
	"upgrade":           true,
}

// readBody reads the request body, at most maxBodyBytes of it.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
}

// newEvent translates an HTTP request into the payload format 2.0 event of
// the route routeKey. r.URL.Path is already percent-decoded, and so are
// rawPath and requestContext.http.path on an HTTP API.
func (g *gateway) newEvent(r *http.Request, body []byte, routeKey string, params map[string]string, now time.Time, requestID string) events.APIGatewayV2HTTPRequest {
	sourceIP := sourceIP(r)
	eventBody, isBase64 := encodeBody(r.Header.Get("Content-Type"), body)
	return events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               r.URL.Path,
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies(r.Header),
		Headers:               eventHeaders(r, len(body), sourceIP, now),
		QueryStringParameters: queryParameters(r.URL.RawQuery),
		PathParameters:        params,
		Body:                  eventBody,
		IsBase64Encoded:       isBase64,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    accountID,
			Stage:        g.stage,
			RequestID:    requestID,
			APIID:        g.apiID,
			DomainName:   r.Host,
			DomainPrefix: domainPrefix(r.Host),
			Time:         now.UTC().Format(timeLayout),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
}

// newAuthorizerRequest builds the authorizer's event from the route's event.
func newAuthorizerRequest(e events.APIGatewayV2HTTPRequest, identity []string, routeARN string) events.APIGatewayV2CustomAuthorizerV2Request {
	return events.APIGatewayV2CustomAuthorizerV2Request{
		Version:               "2.0",
		Type:                  "REQUEST",
		RouteArn:              routeARN,
		IdentitySource:        identity,
		RouteKey:              e.RouteKey,
		RawPath:               e.RawPath,
		RawQueryString:        e.RawQueryString,
		Cookies:               e.Cookies,
		Headers:               e.Headers,
		QueryStringParameters: e.QueryStringParameters,
		RequestContext:        e.RequestContext,
		PathParameters:        e.PathParameters,
	}
}

// identitySource returns the values of the identity headers, in order, and
// false if one of them is missing or empty.
func identitySource(r *http.Request, names []string) ([]string, bool) {
	values := make([]string, 0, len(names))
	for _, name := range names {
		v := strings.Join(r.Header.Values(name), ",")
		if strings.TrimSpace(v) == "" {
			return nil, false
		}
		values = append(values, v)
	}
	return values, true
}

// eventHeaders lower-cases the request's header names, joins repeated values
// with commas, leaves out Cookie (it becomes the cookies field) and the
// hop-by-hop headers, and adds what API Gateway adds: host, content-length,
// x-forwarded-for/-port/-proto and x-amzn-trace-id.
func eventHeaders(r *http.Request, bodyLen int, sourceIP string, now time.Time) map[string]string {
	h := make(map[string]string, len(r.Header)+6)
	for name, values := range r.Header {
		lower := strings.ToLower(name)
		if lower == "cookie" || hopByHop[lower] || len(values) == 0 {
			continue
		}
		v := strings.Join(values, ",")
		if prev, ok := h[lower]; ok {
			v = prev + "," + v
		}
		h[lower] = v
	}
	h["host"] = r.Host
	h["content-length"] = strconv.Itoa(bodyLen)
	if prev := h["x-forwarded-for"]; prev != "" {
		h["x-forwarded-for"] = prev + ", " + sourceIP
	} else {
		h["x-forwarded-for"] = sourceIP
	}
	proto, port := "http", "80"
	if r.TLS != nil {
		proto, port = "https", "443"
	}
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(addr.String()); err == nil {
			port = p
		}
	} else if _, p, err := net.SplitHostPort(r.Host); err == nil {
		port = p
	}
	h["x-forwarded-proto"] = proto
	h["x-forwarded-port"] = port
	if h["x-amzn-trace-id"] == "" {
		h["x-amzn-trace-id"] = newTraceID(now)
	}
	return h
}

// cookies splits the Cookie headers into the event's cookies field (nil if
// there are none).
func cookies(h http.Header) []string {
	var out []string
	for _, line := range h.Values("Cookie") {
		for part := range strings.SplitSeq(line, ";") {
			if c := strings.TrimSpace(part); c != "" {
				out = append(out, c)
			}
		}
	}
	return out
}

// queryParameters decodes a raw query string into queryStringParameters:
// names and values percent-decoded, the values of a repeated name joined with
// commas in order (nil if there are none).
func queryParameters(raw string) map[string]string {
	var params map[string]string
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, v = unescapeQuery(k), unescapeQuery(v)
		if params == nil {
			params = make(map[string]string)
		}
		if prev, ok := params[k]; ok {
			v = prev + "," + v
		}
		params[k] = v
	}
	return params
}

// unescapeQuery percent-decodes s ('+' is a space), or returns it as it is if
// it is malformed.
func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// encodeBody returns the event's body and isBase64Encoded. HTTP APIs pass the
// body as text only for text/*, application/json, application/xml and
// application/javascript; anything else, including a body without a
// Content-Type, is base64-encoded. Text that is not valid UTF-8 is
// base64-encoded too, since the event is JSON.
func encodeBody(contentType string, body []byte) (string, bool) {
	if len(body) == 0 {
		return "", false
	}
	if isTextMediaType(contentType) && utf8.Valid(body) {
		return string(body), false
	}
	return base64.StdEncoding.EncodeToString(body), true
}

// isTextMediaType reports whether an HTTP API passes a body of this
// Content-Type as text.
func isTextMediaType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt, _, _ = strings.Cut(contentType, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	switch {
	case strings.HasPrefix(mt, "text/"):
		return true
	case mt == "application/json", mt == "application/xml", mt == "application/javascript":
		return true
	}
	return false
}

// sourceIP is the IP address of the TCP peer, without the port.
func sourceIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// domainPrefix is the first label of the host name ("id" for
// "id.execute-api.us-east-1.amazonaws.com"), or the whole host if it is an
// IP address.
func domainPrefix(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if net.ParseIP(host) != nil {
		return host
	}
	prefix, _, _ := strings.Cut(host, ".")
	return prefix
}

// newRequestID returns an id shaped like an HTTP API request id
// ("LV7fzho-PHcEJPw=").
func newRequestID() string {
	return base64.URLEncoding.EncodeToString(randomBytes(11))
}

// newTraceID returns an X-Ray trace header like the one API Gateway adds.
func newTraceID(now time.Time) string {
	return fmt.Sprintf("Root=1-%08x-%s", now.Unix(), hex.EncodeToString(randomBytes(12)))
}

// newUUID returns a random (version 4) UUID, the shape of a Lambda
// request id.
func newUUID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return b
}
