package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/session"
)

// The account routes, behind the authorizer: the signed-in user's own sessions and
// password. One function serves them; the route key says which.
const (
	RouteListSessions   = "GET /auth/sessions"
	RouteSignOut        = "DELETE /auth/sessions/{id}"
	RouteChangePassword = "POST /auth/password"
	RouteReauthenticate = "POST /auth/reauthenticate"
)

type (
	sessionView struct {
		ID         string `json:"id"`
		CreatedAt  string `json:"created_at"`
		LastUsedAt string `json:"last_used_at"`
		ExpiresAt  string `json:"expires_at"`
		UserAgent  string `json:"user_agent"`
		IP         string `json:"ip"`
		Current    bool   `json:"current"`
	}
	sessionList struct {
		Sessions []sessionView `json:"sessions"`
	}
	passwordRequest struct {
		CurrentPassword *string `json:"current_password"`
		NewPassword     *string `json:"new_password"`
	}
	reauthRequest struct {
		Password *string `json:"password"`
	}
)

// principal is the caller as the authorizer put it in the request context.
type principal struct {
	sub, sid, scope string
	authTime        int64
}

func principalOf(req events.APIGatewayV2HTTPRequest) (principal, bool) {
	var lambda map[string]any
	if req.RequestContext.Authorizer != nil {
		lambda = req.RequestContext.Authorizer.Lambda
	}
	var p principal
	p.sub, _ = lambda["sub"].(string)
	p.sid, _ = lambda["sid"].(string)
	p.scope, _ = lambda["scope"].(string)
	// API Gateway hands a context number over as a JSON number (float64 once decoded).
	switch v := lambda["auth_time"].(type) {
	case float64:
		p.authTime = int64(v)
	case int64:
		p.authTime = v
	case int:
		p.authTime = int64(v)
	}
	return p, p.sub != "" && p.sid != ""
}

// Account serves the account routes.
func (h *Handlers) Account(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return h.serve(ctx, req, func(ctx context.Context) (events.APIGatewayV2HTTPResponse, error) {
		p, ok := principalOf(req)
		if !ok {
			return errorBody(http.StatusUnauthorized, "unauthorized", "no authorizer context"), nil
		}
		// Decided before anything changes, so that a bad transport header cannot
		// leave a changed password behind a 400.
		cookie, err := h.accessInCookie(req)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		switch req.RouteKey {
		case RouteListSessions:
			return h.listSessions(ctx, p)
		case RouteSignOut:
			return h.signOut(ctx, req, p, req.PathParameters["id"])
		case RouteChangePassword:
			var body passwordRequest
			if err := decodeJSON(req, &body, true); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			if body.CurrentPassword == nil || body.NewPassword == nil || *body.CurrentPassword == "" || *body.NewPassword == "" {
				return events.APIGatewayV2HTTPResponse{}, badRequest("current_password and new_password are required")
			}
			g, err := h.svc.ChangePassword(ctx, p.sub, p.sid, *body.CurrentPassword, *body.NewPassword)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			return h.accessResponse(g, cookie), nil
		case RouteReauthenticate:
			var body reauthRequest
			if err := decodeJSON(req, &body, true); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			if body.Password == nil || *body.Password == "" {
				return events.APIGatewayV2HTTPResponse{}, badRequest("password is required")
			}
			g, err := h.svc.Reauthenticate(ctx, p.sub, p.sid, *body.Password)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			return h.accessResponse(g, cookie), nil
		}
		return errorBody(http.StatusNotFound, "not_found", "no such route"), nil
	})
}

func (h *Handlers) listSessions(ctx context.Context, p principal) (events.APIGatewayV2HTTPResponse, error) {
	list, err := h.svc.ListSessions(ctx, p.sub)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	out := sessionList{Sessions: make([]sessionView, 0, len(list))}
	for _, s := range list {
		out.Sessions = append(out.Sessions, sessionView{
			ID:         s.ID,
			CreatedAt:  rfc3339(s.CreatedAt),
			LastUsedAt: rfc3339(s.LastUsed),
			ExpiresAt:  rfc3339(minTime(s.IdleExp, s.AbsExp)),
			UserAgent:  s.UserAgent,
			IP:         s.IP,
			Current:    s.ID == p.sid,
		})
	}
	return jsonResponse(http.StatusOK, out, noStore()), nil
}

func (h *Handlers) signOut(ctx context.Context, req events.APIGatewayV2HTTPRequest, p principal, id string) (events.APIGatewayV2HTTPResponse, error) {
	if id == "" || len(id) > 64 {
		return errorBody(http.StatusNotFound, "not_found", "no such session"), nil
	}
	err := h.svc.SignOut(ctx, p.sub, id)
	if errors.Is(err, session.ErrNotFound) {
		return errorBody(http.StatusNotFound, "not_found", "no such session"), nil
	}
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	resp := events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNoContent, Headers: noStore()}
	// Signing out the caller's own session is a logout: with the cookie transport its
	// cookies go too, as a logout's do.
	if cookieMode, _ := transport(req); cookieMode && id == p.sid {
		resp.Cookies = h.clearCookies()
	}
	return resp, nil
}

// accessInCookie reports whether an account answer hands its access token out as a
// cookie: in cookie-only mode, to a request that uses the cookie transport (which a
// request the authorizer let in on the cookie always does). Otherwise the transport
// header is not looked at, as before cookie-only mode.
func (h *Handlers) accessInCookie(req events.APIGatewayV2HTTPRequest) (bool, error) {
	if !h.accessCookie {
		return false, nil
	}
	return transport(req)
}

// accessResponse is the token response of a request made with an access token: a new
// access token for the same session, whose refresh token stays as it is (the grant
// carries none, so the body has no refresh_token); with cookie, the access token is the
// access cookie and the body carries neither it nor its type.
func (h *Handlers) accessResponse(g *session.Grant, cookie bool) events.APIGatewayV2HTTPResponse {
	body := h.tokenBody(g)
	if !cookie {
		return jsonResponse(http.StatusOK, body, noStore())
	}
	body.AccessToken, body.TokenType = "", ""
	resp := jsonResponse(http.StatusOK, body, noStore())
	resp.Cookies = []string{setCookie(AccessCookieName, g.AccessToken, "/", body.ExpiresIn)}
	return resp
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
