package schema

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

func parseType(t string) jsonType {
	switch t {
	case "object":
		return typeObject
	case "array":
		return typeArray
	case "string":
		return typeString
	case "integer":
		return typeInteger
	case "number":
		return typeNumber
	case "boolean":
		return typeBoolean
	}
	return typeUnset
}

// buildNode compiles a schema that checkStructural accepted. where names
// the node in messages (".spec.containers[*]").
func buildNode(s *spec.Schema, where string) (*node, error) {
	n := &node{where: where, nullable: s.Nullable, format: s.Format}
	if len(s.Type) == 1 {
		n.typ = parseType(s.Type[0])
	}
	n.intOrString, _ = s.Extensions[extIntOrString].(bool)
	n.preserveUnknown, _ = s.Extensions[extPreserveUnknown].(bool)
	n.embedded, _ = s.Extensions[extEmbedded].(bool)
	setFormat(n)

	if len(s.Properties) > 0 {
		n.props = make(map[string]*node, len(s.Properties))
		for _, k := range sortedKeys(s.Properties) {
			prop := s.Properties[k]
			c, err := buildNode(&prop, where+"."+k)
			if err != nil {
				return nil, err
			}
			n.props[k] = c
		}
	}
	if ap := s.AdditionalProperties; ap != nil {
		if ap.Schema != nil {
			c, err := buildNode(ap.Schema, where+".*")
			if err != nil {
				return nil, err
			}
			n.additional = c
		} else {
			n.anyAdditional = ap.Allows
		}
	}
	if s.Items != nil && s.Items.Schema != nil {
		c, err := buildNode(s.Items.Schema, where+"[*]")
		if err != nil {
			return nil, err
		}
		n.items = c
	}
	n.required = slices.Clone(s.Required)

	if s.Default != nil {
		def, err := normalizeJSON(s.Default)
		if err != nil {
			return nil, fmt.Errorf("schema: default at %s: %w", where, err)
		}
		n.hasDefault, n.def = true, def
	}
	switch s.Extensions[extListType] {
	case "set":
		n.listType = listSet
	case "map":
		n.listType = listMap
		n.listMapKeys, _ = stringListExt(s, extListMapKeys)
	}
	n.patchStrategy, _ = s.Extensions[extPatchStrategy].(string)
	n.patchMergeKey, _ = s.Extensions[extPatchMergeKey].(string)

	vv, err := buildValueValidation(s, where)
	if err != nil {
		return nil, err
	}
	n.vv = vv
	indexDefaults(n)
	return n, nil
}

// setFormat resolves the format once, by type, as Kubernetes interprets it.
func setFormat(n *node) {
	switch {
	case n.format == "quantity" && (n.typ == typeString || n.intOrString):
		n.quantity = true
	case n.format == "int32" && n.typ == typeInteger:
		n.int32 = true
	case n.typ == typeString || n.typ == typeUnset:
		n.checkFormat = stringFormat(n.format)
	}
}

// indexDefaults precomputes which properties Default must look at.
func indexDefaults(n *node) {
	for _, k := range sortedKeys(n.props) {
		c := n.props[k]
		if c.hasDefault {
			n.defaulted = append(n.defaulted, namedNode{k, c})
		}
		if c.defaultsBelow {
			n.descend = append(n.descend, namedNode{k, c})
		}
	}
	n.defaultsBelow = len(n.defaulted) > 0 || len(n.descend) > 0 ||
		(n.additional != nil && (n.additional.hasDefault || n.additional.defaultsBelow)) ||
		(n.items != nil && (n.items.hasDefault || n.items.defaultsBelow))
}

func buildValueValidation(s *spec.Schema, where string) (*valueValidation, error) {
	vv := &valueValidation{
		maximum: s.Maximum, minimum: s.Minimum,
		exclusiveMaximum: s.ExclusiveMaximum, exclusiveMinimum: s.ExclusiveMinimum,
		multipleOf: s.MultipleOf,
		maxLength:  s.MaxLength, minLength: s.MinLength,
		maxItems: s.MaxItems, minItems: s.MinItems,
		maxProperties: s.MaxProperties, minProperties: s.MinProperties,
		uniqueItems: s.UniqueItems,
	}
	if s.Pattern != "" {
		re, err := regexp.Compile(s.Pattern)
		if err != nil {
			return nil, fmt.Errorf("schema: pattern at %s: %w", where, err)
		}
		vv.pattern, vv.patternSrc = re, s.Pattern
	}
	if len(s.Enum) > 0 {
		allStrings := true
		for _, e := range s.Enum {
			v, err := normalizeJSON(e)
			if err != nil {
				return nil, fmt.Errorf("schema: enum at %s: %w", where, err)
			}
			vv.enum = append(vv.enum, v)
			if str, ok := v.(string); ok {
				vv.enumReport = append(vv.enumReport, str)
			} else {
				allStrings = false
				data, _ := json.Marshal(v)
				vv.enumReport = append(vv.enumReport, string(data))
			}
		}
		if allStrings {
			vv.enumStrings = make(map[string]struct{}, len(vv.enum))
			for _, e := range vv.enum {
				vv.enumStrings[e.(string)] = struct{}{}
			}
		}
	}
	branches := func(list []spec.Schema, kind string) ([]*node, error) {
		var out []*node
		for i := range list {
			b, err := buildNode(&list[i], fmt.Sprintf("%s.%s[%d]", where, kind, i))
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
		return out, nil
	}
	var err error
	if vv.allOf, err = branches(s.AllOf, "allOf"); err != nil {
		return nil, err
	}
	if vv.anyOf, err = branches(s.AnyOf, "anyOf"); err != nil {
		return nil, err
	}
	if vv.oneOf, err = branches(s.OneOf, "oneOf"); err != nil {
		return nil, err
	}
	if s.Not != nil {
		if vv.not, err = buildNode(s.Not, where+".not"); err != nil {
			return nil, err
		}
	}
	if vv.isEmpty() {
		return nil, nil
	}
	return vv, nil
}

func (vv *valueValidation) isEmpty() bool {
	return vv.maximum == nil && vv.minimum == nil && vv.multipleOf == nil &&
		vv.maxLength == nil && vv.minLength == nil && vv.maxItems == nil && vv.minItems == nil &&
		vv.maxProperties == nil && vv.minProperties == nil && !vv.uniqueItems &&
		vv.pattern == nil && vv.enum == nil &&
		vv.allOf == nil && vv.anyOf == nil && vv.oneOf == nil && vv.not == nil
}

// checkDefaults enforces what apiextensions-apiserver enforces for CRD
// defaults: a default must validate against its schema and must not carry
// fields that pruning would drop, or objects would be stored invalid.
func checkDefaults(n *node, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if n.hasDefault {
		v := newValidator(nil)
		v.push(seg{key: "default"})
		v.value(DeepCopyJSON(n.def), n)
		if len(v.errs) > 0 {
			msgs := make([]string, len(v.errs))
			for i, e := range v.errs {
				msgs[i] = e.Error()
			}
			errs = append(errs, field.Invalid(p.Child("default"), n.def, strings.Join(msgs, "; ")))
		}
		pr := newPruner()
		pr.prune(DeepCopyJSON(n.def), n)
		if len(pr.pruned) > 0 {
			slices.Sort(pr.pruned)
			errs = append(errs, field.Invalid(p.Child("default"), n.def, "must not have fields the schema prunes: "+strings.Join(pr.pruned, ", ")))
		}
	}
	for _, k := range sortedKeys(n.props) {
		errs = append(errs, checkDefaults(n.props[k], p.Child("properties").Key(k))...)
	}
	if n.additional != nil {
		errs = append(errs, checkDefaults(n.additional, p.Child("additionalProperties"))...)
	}
	if n.items != nil {
		errs = append(errs, checkDefaults(n.items, p.Child("items"))...)
	}
	return errs
}
