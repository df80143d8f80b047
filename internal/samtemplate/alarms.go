package samtemplate

import (
	"fmt"
	"sort"
)

// Alarm is one AWS::CloudWatch::Alarm: the metrics it reads and its metric-math
// expressions, for the test that keeps the alarms on the service's own metrics in step
// with the code (internal/metrics).
type Alarm struct {
	ID      string
	Metrics []AlarmMetric
	// Expressions are the metric-math expressions of its Metrics queries, by query Id.
	Expressions map[string]string
}

// AlarmMetric is one metric an alarm reads: its own Namespace/MetricName/Dimensions, or
// a MetricStat of its Metrics queries (ID is then the query's Id).
type AlarmMetric struct {
	ID string
	// Namespace is the literal namespace, or "" when NamespaceRef names the template
	// parameter it is a !Ref to.
	Namespace, NamespaceRef string
	Name                    string
	// Dimensions are literal values; DimensionRefs the dimensions whose value is a !Ref
	// (to a parameter or a resource's logical ID).
	Dimensions, DimensionRefs map[string]string
}

// Alarms returns every AWS::CloudWatch::Alarm, sorted by logical ID.
func (t *Template) Alarms() ([]Alarm, error) {
	var ids []string
	for id, r := range t.resources() {
		if get(r, "Type") == "AWS::CloudWatch::Alarm" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var out []Alarm
	for _, id := range ids {
		props := get(t.resources()[id], "Properties")
		a := Alarm{ID: id, Expressions: map[string]string{}}
		if get(props, "MetricName") != nil {
			m, err := alarmMetric(props, id)
			if err != nil {
				return nil, err
			}
			a.Metrics = append(a.Metrics, m)
		}
		queries, _ := get(props, "Metrics").([]any)
		for i, q := range queries {
			where := fmt.Sprintf("%s.Properties.Metrics[%d]", id, i)
			qid, err := literal(get(q, "Id"), where+".Id")
			if err != nil {
				return nil, err
			}
			if e := get(q, "Expression"); e != nil {
				expr, err := literal(e, where+".Expression")
				if err != nil {
					return nil, err
				}
				a.Expressions[qid] = expr
				continue
			}
			m, err := alarmMetric(get(q, "MetricStat", "Metric"), where+".MetricStat.Metric")
			if err != nil {
				return nil, err
			}
			m.ID = qid
			a.Metrics = append(a.Metrics, m)
		}
		if len(a.Metrics) == 0 {
			return nil, fmt.Errorf("samtemplate: alarm %s reads no metric", id)
		}
		out = append(out, a)
	}
	return out, nil
}

// alarmMetric reads Namespace, MetricName and Dimensions from v.
func alarmMetric(v any, where string) (AlarmMetric, error) {
	m := AlarmMetric{Dimensions: map[string]string{}, DimensionRefs: map[string]string{}}
	var err error
	if ref, ok := refTarget(get(v, "Namespace")); ok {
		m.NamespaceRef = ref
	} else if m.Namespace, err = literal(get(v, "Namespace"), where+".Namespace"); err != nil {
		return m, err
	}
	if m.Name, err = literal(get(v, "MetricName"), where+".MetricName"); err != nil {
		return m, err
	}
	dims, _ := get(v, "Dimensions").([]any)
	for i, d := range dims {
		at := fmt.Sprintf("%s.Dimensions[%d]", where, i)
		name, err := literal(get(d, "Name"), at+".Name")
		if err != nil {
			return m, err
		}
		if ref, ok := refTarget(get(d, "Value")); ok {
			m.DimensionRefs[name] = ref
			continue
		}
		if m.Dimensions[name], err = literal(get(d, "Value"), at+".Value"); err != nil {
			return m, err
		}
	}
	return m, nil
}
