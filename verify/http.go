package verify

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
)

type claimsKey struct{}

// WithClaims returns ctx carrying c, as the middleware passes them on. Handlers' own
// tests can use it to call a handler without a token.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFrom returns the claims the middleware (or Lambda) verified for this request.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// Middleware lets a request through to next only with a valid bearer token, its claims
// in the request's context (ClaimsFrom). Otherwise it answers itself, with the
// service's error shape and RFC 6750's challenge:
//
//   - no single "Authorization: Bearer" header: 401 unauthorized, WWW-Authenticate: Bearer
//   - a refused token: 401 invalid_token, WWW-Authenticate: Bearer error="invalid_token"
//   - no key set to verify with: 503 temporarily_unavailable with Retry-After
//
// The answer never repeats the token or any other part of the request.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := v.verifyHeaders(r.Context(), r.Header.Values("Authorization"))
		if err != nil {
			ans := v.refusal(r.Context(), err)
			for k, val := range ans.headers {
				w.Header().Set(k, val)
			}
			w.WriteHeader(ans.status)
			w.Write(ans.body)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
	})
}

// verifyHeaders checks the values of a request's Authorization header: exactly one, or
// the request is ambiguous (a proxy reading the last one would see another caller).
func (v *Verifier) verifyHeaders(ctx context.Context, values []string) (*Claims, error) {
	if len(values) != 1 {
		return nil, ErrNoToken
	}
	return v.VerifyAuthorization(ctx, values[0])
}

// answer is a refused request's response.
type answer struct {
	status  int
	headers map[string]string
	body    []byte
}

// refusal logs why a request was refused (the error's message, which never holds the
// token) and says how to answer it.
func (v *Verifier) refusal(ctx context.Context, err error) answer {
	status, code, msg := http.StatusUnauthorized, "invalid_token", "the access token is invalid or expired"
	h := map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}
	level := slog.LevelInfo
	switch {
	case errors.Is(err, ErrNoToken):
		// RFC 6750 §3.1: no error code when the request carried no credentials.
		code, msg = "unauthorized", "a bearer access token is required"
		h["WWW-Authenticate"] = "Bearer"
	case errors.Is(err, ErrKeysUnavailable):
		status, code, msg = http.StatusServiceUnavailable, "temporarily_unavailable", "the access token cannot be verified now"
		h["Retry-After"] = v.retryAfter
		level = slog.LevelError // every request fails until the key set is reachable
	default:
		h["WWW-Authenticate"] = `Bearer error="invalid_token"`
	}
	v.log.Log(ctx, level, "verify: request refused", "reason", err.Error())
	body, _ := json.Marshal(map[string]string{"error": code, "message": msg})
	return answer{status: status, headers: h, body: body}
}
