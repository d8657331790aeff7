package registry

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/util/jsonpath"
)

type compiledColumn struct {
	Column
	count [][]string
	// segments is the parsed template: literal text and expressions.
	segments []segment
}

// segment is one piece of a column template.
type segment struct {
	text string
	// op is 0 for literal text, '=' for a value, '#' for a count of results and '+'
	// for a sum of numeric results.
	op byte
	// A parsed jsonpath.JSONPath keeps state while it runs, so concurrent requests
	// each borrow their own from the pool.
	parsed *sync.Pool
}

func compileColumn(c Column) (compiledColumn, error) {
	switch c.Type {
	case "integer", "number", "string", "boolean", "date":
	default:
		return compiledColumn{}, fmt.Errorf("type %q is not one of integer, number, string, boolean, date", c.Type)
	}
	cc := compiledColumn{Column: c}
	if len(c.CountPaths) > 0 {
		for _, p := range c.CountPaths {
			fp, err := parseFieldPath(p)
			if err != nil {
				return cc, err
			}
			cc.count = append(cc.count, fp)
		}
		return cc, nil
	}
	tmpl := c.JSONPath
	if !strings.Contains(tmpl, "{") {
		tmpl = "{" + tmpl + "}"
	}
	segs, err := parseTemplate(tmpl)
	if err != nil {
		return cc, err
	}
	cc.segments = segs
	return cc, nil
}

// parseTemplate splits "text{expr}text{#expr}" into segments. Beyond kubectl's
// JSONPath, {#expr} counts the results of expr and {+expr} sums them, so that columns
// such as READY (ready containers / containers) need no code.
func parseTemplate(tmpl string) ([]segment, error) {
	var segs []segment
	for tmpl != "" {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			segs = append(segs, segment{text: tmpl})
			break
		}
		if i > 0 {
			segs = append(segs, segment{text: tmpl[:i]})
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("unclosed { in %q", tmpl)
		}
		expr := tmpl[i+1 : i+j]
		op := byte('=')
		if expr != "" && (expr[0] == '#' || expr[0] == '+') {
			op, expr = expr[0], expr[1:]
		}
		expr = "{" + expr + "}"
		if err := jsonpath.New("column").AllowMissingKeys(true).Parse(expr); err != nil {
			return nil, err
		}
		segs = append(segs, segment{op: op, parsed: &sync.Pool{New: func() any {
			jp := jsonpath.New("column").AllowMissingKeys(true)
			_ = jp.Parse(expr) // parsed once above already
			return jp
		}}})
		tmpl = tmpl[i+j+1:]
	}
	return segs, nil
}

// eval returns the segment's value: the single result of a value expression (nil if
// there is not exactly one), a count, a sum, or the literal text.
func (sg *segment) eval(obj map[string]any) any {
	if sg.op == 0 {
		return sg.text
	}
	jp := sg.parsed.Get().(*jsonpath.JSONPath)
	defer sg.parsed.Put(jp)
	results, err := jp.FindResults(obj)
	if err != nil {
		return nil
	}
	var vals []any
	for _, rs := range results {
		for _, r := range rs {
			if r.IsValid() && r.CanInterface() {
				vals = append(vals, r.Interface())
			}
		}
	}
	switch sg.op {
	case '#':
		return int64(len(vals))
	case '+':
		sum := int64(0)
		for _, v := range vals {
			switch n := v.(type) {
			case int64:
				sum += n
			case float64:
				sum += int64(n)
			}
		}
		return sum
	}
	switch len(vals) {
	case 0:
		return nil
	case 1:
		return vals[0]
	}
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = str(v)
	}
	return strings.Join(parts, ",")
}

// ColumnDef is a column as a Table announces it.
type ColumnDef struct {
	Name, Type, Format, Description string
	Priority                        int32
}

// Columns returns the kind's table columns after NAME (AGE excluded).
func (e *Entry) Columns() []ColumnDef {
	out := make([]ColumnDef, len(e.columns))
	for i, c := range e.columns {
		out[i] = ColumnDef{Name: c.Name, Type: c.Type, Format: c.Format, Description: c.Description, Priority: c.Priority}
		if c.Type == "date" {
			// Dates are shown as ages, as kube-apiserver does for CRD columns.
			out[i].Type = "string"
		}
	}
	return out
}

// FormatLabelSelector makes a column holding a metav1.LabelSelector print it as
// kubectl writes selectors ("app=web,tier in (a,b)").
const FormatLabelSelector = "label-selector"

// Cells evaluates the kind's columns on obj. A column that cannot be evaluated yields
// nil, which kubectl prints as <none>.
func (e *Entry) Cells(obj map[string]any, now time.Time) []any {
	out := make([]any, len(e.columns))
	for i := range e.columns {
		out[i] = e.columns[i].cell(obj, now)
	}
	return out
}

func (c *compiledColumn) cell(obj map[string]any, now time.Time) any {
	if c.Format == FormatPodStatus {
		return podStatus(obj)
	}
	if c.count != nil {
		n := int64(0)
		for _, p := range c.count {
			switch v := lookup(obj, p).(type) {
			case map[string]any:
				n += int64(len(v))
			case []any:
				n += int64(len(v))
			}
		}
		return n
	}
	if len(c.segments) == 1 {
		return c.typed(c.translate(c.segments[0].eval(obj)), now)
	}
	var b strings.Builder
	for i := range c.segments {
		v := c.segments[i].eval(obj)
		if v == nil {
			return nil
		}
		b.WriteString(str(v))
	}
	return c.typed(c.translate(b.String()), now)
}

// translate maps a value through the column's Values table, if any.
func (c *compiledColumn) translate(v any) any {
	if c.Values == nil {
		return v
	}
	if t, ok := c.Values[str(v)]; ok {
		return t
	}
	return v
}

func (c *compiledColumn) typed(v any, now time.Time) any {
	if v == nil {
		return nil
	}
	if c.Format == FormatLabelSelector {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		var ls metav1.LabelSelector
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &ls); err != nil {
			return nil
		}
		sel, err := metav1.LabelSelectorAsSelector(&ls)
		if err != nil {
			return nil
		}
		return sel.String()
	}
	switch c.Type {
	case "date":
		s, ok := v.(string)
		if !ok {
			return nil
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return nil
		}
		return duration.HumanDuration(now.Sub(t))
	case "integer":
		switch n := v.(type) {
		case int64:
			return n
		case float64:
			return int64(n)
		case string:
			if i, err := strconv.ParseInt(n, 10, 64); err == nil {
				return i
			}
		}
		return nil
	case "string":
		return str(v)
	}
	return v
}

// parseFieldPath turns ".a.b" (or "a.b") into its segments.
func parseFieldPath(p string) ([]string, error) {
	p = strings.TrimPrefix(p, ".")
	if p == "" {
		return nil, fmt.Errorf("empty path")
	}
	segs := strings.Split(p, ".")
	for _, s := range segs {
		if s == "" || strings.ContainsAny(s, "[]{}*") {
			return nil, fmt.Errorf("only simple dotted paths are supported")
		}
	}
	return segs, nil
}

func lookup(obj map[string]any, path []string) any {
	var cur any = obj
	for _, s := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[s]
	}
	return cur
}

// FieldValue returns the value of a selectable field ("metadata.name", "type") as a
// field selector compares it, and whether the kind allows selecting on it.
func (e *Entry) FieldValue(obj map[string]any, field string) (string, bool) {
	switch field {
	case "metadata.name":
		return str(lookup(obj, []string{"metadata", "name"})), true
	case "metadata.namespace":
		if !e.Namespaced {
			return "", false
		}
		return str(lookup(obj, []string{"metadata", "namespace"})), true
	}
	for _, f := range e.SelectableFields {
		if strings.TrimPrefix(f, ".") == field {
			p, _ := parseFieldPath(f)
			return str(lookup(obj, p)), true
		}
	}
	return "", false
}

func str(v any) string {
	switch s := v.(type) {
	case nil:
		return ""
	case string:
		return s
	case bool:
		return strconv.FormatBool(s)
	case int64:
		return strconv.FormatInt(s, 10)
	case float64:
		return strconv.FormatFloat(s, 'f', -1, 64)
	default:
		return fmt.Sprint(s)
	}
}
