package registry

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/util/jsonpath"
)

type compiledColumn struct {
	Column
	tmpl string
	// A parsed jsonpath.JSONPath keeps state while it runs, so concurrent requests
	// each borrow their own from the pool.
	parsed *sync.Pool
	count  [][]string
	single bool // the template is one {expression}: keep the value's JSON type
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
	cc.tmpl = c.JSONPath
	if !strings.Contains(cc.tmpl, "{") {
		cc.tmpl = "{" + cc.tmpl + "}"
	}
	if err := jsonpath.New(c.Name).AllowMissingKeys(true).Parse(cc.tmpl); err != nil {
		return cc, err
	}
	tmpl := cc.tmpl
	cc.parsed = &sync.Pool{New: func() any {
		jp := jsonpath.New("column").AllowMissingKeys(true)
		_ = jp.Parse(tmpl) // parsed once above already
		return jp
	}}
	cc.single = strings.Count(tmpl, "{") == 1 && strings.HasPrefix(tmpl, "{") && strings.HasSuffix(tmpl, "}")
	return cc, nil
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
	jp := c.parsed.Get().(*jsonpath.JSONPath)
	defer c.parsed.Put(jp)
	if c.single {
		results, err := jp.FindResults(obj)
		if err != nil || len(results) != 1 || len(results[0]) != 1 {
			return nil
		}
		return c.typed(results[0][0].Interface(), now)
	}
	var buf bytes.Buffer
	if err := jp.Execute(&buf, obj); err != nil || buf.Len() == 0 {
		return nil
	}
	return c.typed(buf.String(), now)
}

func (c *compiledColumn) typed(v any, now time.Time) any {
	if v == nil {
		return nil
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
