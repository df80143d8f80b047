package samtemplate

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// Limit is one throttling limit of an HTTP API stage's route settings.
type Limit struct {
	// Rate is ThrottlingRateLimit, in requests a second.
	Rate float64
	// Burst is ThrottlingBurstLimit, in requests.
	Burst int
}

// Throttling is the route throttling of an AWS::Serverless::HttpApi, resolved for a
// deployment: DefaultRouteSettings and RouteSettings.
type Throttling struct {
	// Default is DefaultRouteSettings' limit; nil if it sets none.
	Default *Limit
	// Routes are RouteSettings' limits by route key ("POST /auth/login").
	Routes map[string]Limit
}

// Throttling returns the route throttling of the HttpApi resource api, with every
// value resolved for d (a Deployment without Parameters takes the template's
// defaults, which is what the local server runs with). A settings block that sets
// one of ThrottlingRateLimit and ThrottlingBurstLimit must set both, so that no
// limit is left to a default the local gateway could only guess.
func (t *Template) Throttling(api string, d Deployment) (Throttling, error) {
	r, err := t.resource(api, "AWS::Serverless::HttpApi")
	if err != nil {
		return Throttling{}, err
	}
	where := api + ".Properties"
	var th Throttling
	if def := get(r, "Properties", "DefaultRouteSettings"); def != nil {
		l, ok, err := t.limit(def, d, where+".DefaultRouteSettings")
		if err != nil {
			return Throttling{}, err
		}
		if ok {
			th.Default = &l
		}
	}
	routes, _ := get(r, "Properties", "RouteSettings").(map[string]any)
	for _, key := range slices.Sorted(maps.Keys(routes)) {
		l, ok, err := t.limit(routes[key], d, fmt.Sprintf("%s.RouteSettings[%q]", where, key))
		if err != nil {
			return Throttling{}, err
		}
		if !ok {
			continue
		}
		if th.Routes == nil {
			th.Routes = make(map[string]Limit)
		}
		th.Routes[key] = l
	}
	return th, nil
}

// limit reads the throttling of one route settings block; ok is false if it sets
// none.
func (t *Template) limit(settings any, d Deployment, where string) (Limit, bool, error) {
	rateV, burstV := get(settings, "ThrottlingRateLimit"), get(settings, "ThrottlingBurstLimit")
	if rateV == nil && burstV == nil {
		return Limit{}, false, nil
	}
	if rateV == nil || burstV == nil {
		return Limit{}, false, fmt.Errorf("samtemplate: %s: sets only one of ThrottlingRateLimit and ThrottlingBurstLimit", where)
	}
	rateS, err := t.resolve(rateV, d)
	if err != nil {
		return Limit{}, false, fmt.Errorf("samtemplate: %s.ThrottlingRateLimit: %w", where, err)
	}
	burstS, err := t.resolve(burstV, d)
	if err != nil {
		return Limit{}, false, fmt.Errorf("samtemplate: %s.ThrottlingBurstLimit: %w", where, err)
	}
	rate, err := strconv.ParseFloat(rateS, 64)
	if err != nil || rate < 0 {
		return Limit{}, false, fmt.Errorf("samtemplate: %s.ThrottlingRateLimit: want a number >= 0, got %q", where, rateS)
	}
	burst, err := strconv.Atoi(burstS)
	if err != nil || burst < 0 {
		return Limit{}, false, fmt.Errorf("samtemplate: %s.ThrottlingBurstLimit: want an integer >= 0, got %q", where, burstS)
	}
	return Limit{Rate: rate, Burst: burst}, true, nil
}

// AccessLogFormat returns AccessLogSettings.Format of the HttpApi resource api ("" if
// it has no access log), so a test can check what the log records.
func (t *Template) AccessLogFormat(api string) (string, error) {
	r, err := t.resource(api, "AWS::Serverless::HttpApi")
	if err != nil {
		return "", err
	}
	v := get(r, "Properties", "AccessLogSettings", "Format")
	if v == nil {
		return "", nil
	}
	return literal(v, api+".Properties.AccessLogSettings.Format")
}
