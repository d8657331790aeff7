// Package ujson encodes unstructured values (what JSON decodes into: maps of string to
// any, slices of any, strings, numbers, booleans and nil) exactly as encoding/json
// does, in a fraction of its time. Every stored object, watch event and plugin feed is
// one of these, and encoding/json's reflection and key sorting were a tenth of the
// kernel's CPU under load. Values of any other type are handed to encoding/json.
package ujson
