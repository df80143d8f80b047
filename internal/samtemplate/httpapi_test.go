package samtemplate

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// The throttling that template.yaml gives its HTTP API at the parameters' defaults, and
// for a deployment that overrides them: the login route's limit comes from its own
// parameters and is lower than the rest.
func TestThrottling(t *testing.T) {
	tpl := loadReal(t)
	tests := []struct {
		name   string
		params map[string]string
		want   Throttling
	}{
		{"the defaults", nil, Throttling{
			Default: &Limit{Rate: 5000, Burst: 5000},
			Routes:  map[string]Limit{"POST /auth/login": {Rate: 50, Burst: 100}},
		}},
		{"a deployment's parameters", map[string]string{
			"ThrottlingRateLimit": "300", "ThrottlingBurstLimit": "600",
			"LoginThrottlingRateLimit": "2.5", "LoginThrottlingBurstLimit": "5",
		}, Throttling{
			Default: &Limit{Rate: 300, Burst: 600},
			Routes:  map[string]Limit{"POST /auth/login": {Rate: 2.5, Burst: 5}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tpl.Throttling("HttpApi", Deployment{Parameters: tc.params})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Throttling = %+v (default %+v)\nwant %+v (default %+v)", got, got.Default, tc.want, tc.want.Default)
			}
			login, def := got.Routes["POST /auth/login"], *got.Default
			if login.Rate >= def.Rate || login.Burst >= def.Burst {
				t.Errorf("login limit %+v is not lower than the default %+v", login, def)
			}
		})
	}
}

// Settings the local gateway could only guess at are refused, each for its reason.
func TestThrottlingRefusesIncompleteSettings(t *testing.T) {
	const head = "Parameters:\n  Rate:\n    Type: Number\n    Default: abc\nResources:\n  Api:\n    Type: AWS::Serverless::HttpApi\n    Properties:\n"
	tests := []struct {
		name, props, wantErr string
	}{
		{"a rate without a burst", "      DefaultRouteSettings:\n        ThrottlingRateLimit: 5\n", "sets only one of"},
		{"a burst without a rate", "      RouteSettings:\n        \"GET /me\":\n          ThrottlingBurstLimit: 5\n", "sets only one of"},
		{"a parameter that is not a number", "      DefaultRouteSettings:\n        ThrottlingRateLimit: !Ref Rate\n        ThrottlingBurstLimit: 5\n", "want a number"},
		{"a negative burst", "      DefaultRouteSettings:\n        ThrottlingRateLimit: 5\n        ThrottlingBurstLimit: -1\n", "want an integer >= 0"},
		{"a reference to nothing", "      DefaultRouteSettings:\n        ThrottlingRateLimit: !Ref Nope\n        ThrottlingBurstLimit: 1\n", "no such parameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := Parse([]byte(head + tc.props))
			if err != nil {
				t.Fatal(err)
			}
			_, err = tpl.Throttling("Api", Deployment{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Throttling: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := loadReal(t).Throttling("SessionsTable", Deployment{}); err == nil {
		t.Error("Throttling of a table succeeded")
	}
}

// contextVariable is one API Gateway $context variable and nothing else.
var contextVariable = regexp.MustCompile(`^\$context\.[A-Za-z]+(\.[A-Za-z]+)*$`)

// The access log is one JSON object of $context variables that API Gateway fills in
// itself: nothing a client sends as a header (Authorization, Cookie) can reach it.
func TestAccessLogFormatHoldsNoCredentials(t *testing.T) {
	format, err := loadReal(t).AccessLogFormat("HttpApi")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkAccessLogFormat(format); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"requestId", "ip", "requestTime", "httpMethod", "routeKey", "status", "protocol", "responseLength", "integrationError", "authorizerError"} {
		if !strings.Contains(format, `"`+field+`":`) {
			t.Errorf("access log format lacks %q", field)
		}
	}

	// The check itself can fail, for each kind of leak.
	for name, bad := range map[string]string{
		"a request header":          `{"auth":"$context.request.header.Authorization"}`,
		"a cookie":                  `{"c":"$context.cookie"}`,
		"an identity field":         `{"ua":"$context.identity.userAgent"}`,
		"text around a variable":    `{"x":"Bearer $context.requestId"}`,
		"not one JSON object":       `$context.requestId`,
		"a value that is no string": `{"n":1}`,
	} {
		if checkAccessLogFormat(bad) == nil {
			t.Errorf("the check accepts %s: %s", name, bad)
		}
	}
}

// checkAccessLogFormat says why an access log format could leak a credential.
func checkAccessLogFormat(format string) error {
	var fields map[string]any
	if err := json.Unmarshal([]byte(format), &fields); err != nil {
		return err
	}
	for name, v := range fields {
		s, ok := v.(string)
		if !ok || !contextVariable.MatchString(s) {
			return &formatError{name, "is not one $context variable"}
		}
		lower := strings.ToLower(s)
		for _, bad := range []string{"header", "cookie", "authorization"} {
			if strings.Contains(lower, bad) {
				return &formatError{name, "names " + bad}
			}
		}
		if strings.HasPrefix(s, "$context.identity.") && s != "$context.identity.sourceIp" {
			return &formatError{name, "is a client-supplied identity field"}
		}
	}
	return nil
}

type formatError struct{ field, why string }

func (e *formatError) Error() string { return "access log field " + e.field + " " + e.why }
