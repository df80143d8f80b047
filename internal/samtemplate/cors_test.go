package samtemplate

import (
	"reflect"
	"strings"
	"testing"
)

func loadCORSTestdata(t *testing.T) *Template {
	t.Helper()
	tpl, err := Load("testdata/cors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func intp(n int) *int { return &n }

// template.yaml's CORS: off at the defaults (CorsOrigins empty: the !If gives
// AWS::NoValue), and for a deployment that names origins the contract's
// configuration with those origins and CorsPreflightCacheTtl.
func TestTemplateCORS(t *testing.T) {
	tpl := loadReal(t)
	on := func(origins []string, maxAge int) *CORS {
		return &CORS{
			AllowOrigins:     origins,
			AllowCredentials: true,
			AllowHeaders:     []string{"Authorization", "Content-Type", "X-Session-Transport"},
			AllowMethods:     []string{"GET", "POST", "DELETE"},
			ExposeHeaders:    []string{"Retry-After"},
			MaxAge:           intp(maxAge),
		}
	}
	tests := []struct {
		name   string
		params map[string]string
		want   *CORS
	}{
		{"the defaults turn CORS off", nil, nil},
		{"an empty origin list turns it off", map[string]string{"CorsOrigins": ""}, nil},
		{"a list of blanks turns it off", map[string]string{"CorsOrigins": " , "}, nil},
		{"one origin turns it on", map[string]string{"CorsOrigins": "https://app.example.com"},
			on([]string{"https://app.example.com"}, 600)},
		{"a list is split at commas and trimmed, as CloudFormation does",
			map[string]string{"CorsOrigins": "https://app.example.com, http://localhost:5173", "CorsPreflightCacheTtl": "30"},
			on([]string{"https://app.example.com", "http://localhost:5173"}, 30)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tpl.CORS("HttpApi", Deployment{Parameters: tc.params})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("CORS = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// Each form of CorsConfiguration, and the conditions that choose it.
func TestCORSForms(t *testing.T) {
	tpl := loadCORSTestdata(t)
	origins := map[string]string{"Origins": "https://a.example,https://b.example"}
	prod := map[string]string{"Stage": "prod"}
	both := map[string]string{"Stage": "prod", "Origins": "https://a.example"}
	tests := []struct {
		name   string
		api    string
		params map[string]string
		want   *CORS
	}{
		{"a literal mapping with parameters in it", "Literal", nil, &CORS{
			AllowOrigins: []string{"https://a.example"}, AllowCredentials: true, AllowHeaders: []string{"Authorization"},
			AllowMethods: []string{"GET"}, ExposeHeaders: []string{"Retry-After"}, MaxAge: intp(60)}},
		{"a parameter set to false", "Literal", map[string]string{"Credentials": "false", "Age": "0"}, &CORS{
			AllowOrigins: []string{"https://a.example"}, AllowHeaders: []string{"Authorization"},
			AllowMethods: []string{"GET"}, ExposeHeaders: []string{"Retry-After"}, MaxAge: intp(0)}},
		{"no CorsConfiguration", "None", nil, nil},
		{"an !If whose condition fails", "IfOrigins", nil, nil},
		{"an !If whose condition holds", "IfOrigins", origins,
			&CORS{AllowOrigins: []string{"https://a.example", "https://b.example"}, AllowMethods: []string{"GET"}}},
		{"!And with one side false", "IfProdWithOrigins", prod, nil},
		{"!And with both sides true", "IfProdWithOrigins", both, &CORS{AllowOrigins: []string{"https://a.example"}}},
		{"!Or with neither side", "IfProdOrOrigins", nil, nil},
		{"!Or and a nested !If taking its else", "IfProdOrOrigins", origins,
			&CORS{AllowOrigins: []string{"https://a.example", "https://b.example"}}},
		{"!Or and a nested !If taking its then", "IfProdOrOrigins", prod, &CORS{AllowOrigins: []string{"https://prod.example"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tpl.CORS(tc.api, Deployment{Parameters: tc.params})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("CORS = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// What CORS cannot evaluate is refused, each for its reason.
func TestCORSRefusals(t *testing.T) {
	tpl := loadCORSTestdata(t)
	tests := []struct {
		api, wantErr string
	}{
		{"BareTrue", "want a mapping"},
		{"UnknownKey", "AllowOrigin is not a CorsConfiguration property"},
		{"NotAList", "AllowOrigins: want a list or a !Ref to a list parameter"},
		{"BadMaxAge", `MaxAge: want an integer, got "dev"`},
		{"BadCredentials", `AllowCredentials: want true or false, got "dev"`},
		{"NoSuchCondition", "no condition Nope"},
		{"LoopingCondition", "nested more than 32 deep"},
		{"ShortIf", "!If wants [condition, then, else]"},
		{"Nowhere", "no resource Nowhere"},
	}
	for _, tc := range tests {
		t.Run(tc.api+" is refused", func(t *testing.T) {
			_, err := tpl.CORS(tc.api, Deployment{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("CORS: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// CheckParameter refuses what CloudFormation would refuse at deploy time, and
// lets the rest through.
func TestCheckParameter(t *testing.T) {
	tpl, fixture := loadReal(t), loadCORSTestdata(t)
	tests := []struct {
		name       string
		tpl        *Template
		param, val string
		wantErr    string // "" = accepted
	}{
		{"no origins (CORS off)", tpl, "CorsOrigins", "", ""},
		{"an https origin", tpl, "CorsOrigins", "https://app.example.com", ""},
		{"origins with ports, trimmed", tpl, "CorsOrigins", "http://localhost:5173, http://127.0.0.1:3000", ""},
		{"a wildcard origin", tpl, "CorsOrigins", "*", "does not match its AllowedPattern"},
		{"a scheme wildcard", tpl, "CorsOrigins", "https://*", "does not match its AllowedPattern"},
		{"an origin with a trailing slash", tpl, "CorsOrigins", "https://app.example.com/", "does not match its AllowedPattern"},
		{"an origin with a path", tpl, "CorsOrigins", "https://app.example.com/app", "does not match its AllowedPattern"},
		{"an origin in upper case", tpl, "CorsOrigins", "https://App.example.com", "does not match its AllowedPattern"},
		{"a host without a scheme", tpl, "CorsOrigins", "app.example.com", "does not match its AllowedPattern"},
		{"one bad member of several", tpl, "CorsOrigins", "https://ok.example,ftp://no.example", `"ftp://no.example" does not match`},
		{"a cache time in range", tpl, "CorsPreflightCacheTtl", "7200", ""},
		{"a negative cache time", tpl, "CorsPreflightCacheTtl", "-1", "outside its MinValue 0"},
		{"a cache time over a day", tpl, "CorsPreflightCacheTtl", "86401", "outside its MaxValue 86400"},
		{"a cache time that is no number", tpl, "CorsPreflightCacheTtl", "10m", "is not a number"},
		{"one of the AllowedValues", fixture, "Credentials", "false", ""},
		{"none of the AllowedValues", fixture, "Credentials", "yes", "is not one of its AllowedValues"},
		{"a pattern matches whole members only", fixture, "Pattern", "ab,c1", `"c1" does not match`},
		{"no such parameter", tpl, "Nope", "x", "no parameter Nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tpl.CheckParameter(tc.param, tc.val)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("CheckParameter(%s, %q): %v, want it accepted", tc.param, tc.val, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("CheckParameter(%s, %q): %v, want an error containing %q", tc.param, tc.val, err, tc.wantErr)
			}
		})
	}
	// Every parameter's default passes its own checks.
	for _, p := range tpl.Parameters() {
		if err := tpl.CheckParameter(p.Name, p.Default); p.HasDefault && err != nil {
			t.Errorf("the default of %s: %v", p.Name, err)
		}
	}
}

// samCORSKeywords are the property names SAM rewrites to camel case when it
// copies an intrinsic CorsConfiguration into the OpenAPI body: it replaces
// them in the JSON text of the whole !If, values included
// (samtranslator/open_api/open_api.py, add_cors).
var samCORSKeywords = []string{"AllowOrigins", "AllowHeaders", "AllowMethods", "ExposeHeaders", "MaxAge", "AllowCredentials"}

// A parameter or condition named in template.yaml's CorsConfiguration must
// survive SAM's renaming: "CorsAllowOrigins" would become "CorsallowOrigins",
// a !Ref to nothing, and the deploy would fail.
func TestCORSSurvivesSAMsRenaming(t *testing.T) {
	r, err := loadReal(t).resource("HttpApi", "AWS::Serverless::HttpApi")
	if err != nil {
		t.Fatal(err)
	}
	if bad := renamedBySAM(get(r, "Properties", "CorsConfiguration")); len(bad) > 0 {
		t.Errorf("SAM would rewrite these values of CorsConfiguration: %q", bad)
	}
	// The check can fail.
	probe := map[string]any{"AllowOrigins": &intrinsic{name: "Ref", arg: "CorsAllowOrigins"}}
	if bad := renamedBySAM(&intrinsic{name: "Fn::If", arg: []any{"C", probe, "x"}}); len(bad) != 1 {
		t.Errorf("renamedBySAM missed a !Ref to CorsAllowOrigins: %q", bad)
	}
}

// renamedBySAM returns the strings of v, other than mapping keys, that
// contain one of samCORSKeywords.
func renamedBySAM(v any) []string {
	var bad []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case *intrinsic:
			walk(x.arg)
		case string:
			for _, k := range samCORSKeywords {
				if strings.Contains(x, k) {
					bad = append(bad, x)
					break
				}
			}
		}
	}
	walk(v)
	return bad
}
