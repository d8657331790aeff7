package schema

import "regexp"

// jsonType is a node's declared OpenAPI type.
type jsonType uint8

const (
	// typeUnset: no "type". Allowed for x-kubernetes-int-or-string,
	// x-kubernetes-preserve-unknown-fields and inside allOf/anyOf/oneOf/not.
	typeUnset jsonType = iota
	typeObject
	typeArray
	typeString
	typeInteger
	typeNumber
	typeBoolean
)

func (t jsonType) String() string {
	switch t {
	case typeObject:
		return "object"
	case typeArray:
		return "array"
	case typeString:
		return "string"
	case typeInteger:
		return "integer"
	case typeNumber:
		return "number"
	case typeBoolean:
		return "boolean"
	}
	return ""
}

// listType is x-kubernetes-list-type; atomic is the default.
type listType uint8

const (
	listAtomic listType = iota
	listSet
	listMap
)

// node is the compiled form of one schema node. It is built once by Compile
// and never written afterwards, which is what makes Structural safe to share
// between goroutines.
type node struct {
	typ             jsonType
	nullable        bool
	intOrString     bool
	preserveUnknown bool
	// embedded marks x-kubernetes-embedded-resource: Compile gave the node
	// apiVersion, kind and metadata; Validate requires the first two.
	embedded bool
	// isRoot marks the object root: its metadata is validated by the kernel,
	// not by this schema (see Structural.metaCheck).
	isRoot bool

	props map[string]*node
	// additional is the additionalProperties schema; anyAdditional means
	// additionalProperties: true, i.e. values of any shape.
	additional    *node
	anyAdditional bool
	items         *node
	required      []string

	hasDefault bool
	def        any // normalised JSON value; deep-copied on every use
	// defaulted lists the properties that have a default, and descend the
	// properties below which some default exists, so Default visits only
	// the parts of an object that can change.
	defaulted     []namedNode
	descend       []namedNode
	defaultsBelow bool

	listType    listType
	listMapKeys []string

	patchStrategy string
	patchMergeKey string

	format string
	// checkFormat validates a string against format; nil when the format
	// is unknown (Kubernetes ignores unknown formats) or not a string one.
	checkFormat func(string) bool
	int32       bool // format int32 on an integer: Go clients cannot hold more
	quantity    bool // format quantity: numbers are valid too, as for built-ins

	vv *valueValidation // nil when the node has none, keeping the hot path short

	// where is the node's location in the schema, for messages.
	where string
}

type namedNode struct {
	name string
	node *node
}

// valueValidation holds the constraints that do not affect the shape.
type valueValidation struct {
	enum        []any
	enumStrings map[string]struct{} // set when every enum value is a string
	enumReport  []string            // enum values as Kubernetes prints them

	pattern    *regexp.Regexp
	patternSrc string

	maximum, minimum                   *float64
	exclusiveMaximum, exclusiveMinimum bool
	multipleOf                         *float64

	maxLength, minLength         *int64
	maxItems, minItems           *int64
	maxProperties, minProperties *int64
	uniqueItems                  bool

	allOf, anyOf, oneOf []*node
	not                 *node
}
