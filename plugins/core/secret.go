package core

import (
	"encoding/base64"
	"encoding/json"
	"slices"

	"weft.dev/weft/sdk"
)

// dataObject is the part of a ConfigMap or Secret the rules read.
type dataObject struct {
	Name       string
	SAName     string // the kubernetes.io/service-account.name annotation
	Data       map[string]string
	BinaryData map[string]string
	StringData []byte // raw
	Type       string
	Immutable  *bool
}

// decodeData reads a ConfigMap or Secret with sdk.JSONReader, as decodePod reads pods.
func decodeData(b []byte, o *dataObject) error {
	r := sdk.NewJSONReader(b)
	strMap := func() map[string]string {
		if r.Null() {
			return nil
		}
		m := map[string]string{}
		r.Object(func(k []byte) {
			var v string
			setStr(r, &v)
			m[string(k)] = v
		})
		return m
	}
	r.Object(func(k []byte) {
		switch string(k) {
		case "metadata":
			r.Object(func(k []byte) {
				switch string(k) {
				case "name":
					setStr(r, &o.Name)
				case "annotations":
					r.Object(func(k []byte) {
						if string(k) == "kubernetes.io/service-account.name" {
							setStr(r, &o.SAName)
						} else {
							r.Skip()
						}
					})
				default:
					r.Skip()
				}
			})
		case "data":
			o.Data = strMap()
		case "binaryData":
			o.BinaryData = strMap()
		case "stringData":
			o.StringData = r.Raw()
		case "type":
			setStr(r, &o.Type)
		case "immutable":
			if r.Null() {
				o.Immutable = nil
				return
			}
			var v bool
			setBool(r, &v)
			o.Immutable = &v
		default:
			r.Skip()
		}
	})
	return r.End()
}

func objectName(req *sdk.AdmissionRequest, fromObject string) string {
	if req.Name != "" {
		return req.Name
	}
	return fromObject
}

// defaultSecret folds stringData into data and defaults the type to Opaque, as the
// API server does when it converts a Secret.
func defaultSecret(req *sdk.AdmissionRequest) sdk.AdmissionResponse {
	var s dataObject
	if decodeData(req.Object, &s) != nil {
		return allowed // mutation runs before schema validation, which reports it
	}
	var p jsonPatch
	if len(s.StringData) > 0 && s.StringData[0] == '{' {
		var keys []string
		vals := map[string]string{}
		r := sdk.NewJSONReader(s.StringData)
		r.Object(func(k []byte) {
			if r.Kind() != sdk.JSONString {
				r.Skip() // not a string: schema validation reports the type
				return
			}
			var v string
			setStr(r, &v)
			if _, dup := vals[string(k)]; !dup {
				keys = append(keys, string(k))
			}
			vals[string(k)] = base64.StdEncoding.EncodeToString([]byte(v))
		})
		if r.Err() != nil {
			return allowed
		}
		slices.Sort(keys)
		if s.Data == nil {
			obj := []byte{'{'}
			for i, k := range keys {
				if i > 0 {
					obj = append(obj, ',')
				}
				obj = appendString(obj, k)
				obj = append(obj, ':')
				obj = appendString(obj, vals[k])
			}
			p.addRaw("/data", "", append(obj, '}'))
		} else {
			for _, k := range keys {
				p.addString("/data/", pathKey(k), vals[k])
			}
		}
		p.remove("/stringData")
	}
	if s.Type == "" {
		p.add("/type", "", `"Opaque"`)
	}
	return patched(&p)
}

// The well-known Secret types and their keys (k8s.io/api/core/v1).
const (
	secretTypeOpaque              = "Opaque"
	secretTypeServiceAccountToken = "kubernetes.io/service-account-token"
	secretTypeDockercfg           = "kubernetes.io/dockercfg"
	secretTypeDockerConfigJSON    = "kubernetes.io/dockerconfigjson"
	secretTypeBasicAuth           = "kubernetes.io/basic-auth"
	secretTypeSSHAuth             = "kubernetes.io/ssh-auth"
	secretTypeTLS                 = "kubernetes.io/tls"
)

// validateSecret checks data keys, the keys the type requires, an immutable Secret's
// data and the type's immutability.
func validateSecret(req *sdk.AdmissionRequest) sdk.AdmissionResponse {
	var s, old dataObject
	if err := decodeData(req.Object, &s); err != nil {
		return badRequest("Secret", err)
	}
	hasOld := len(req.OldObject) > 0
	if hasOld {
		if err := decodeData(req.OldObject, &old); err != nil {
			return badRequest("Secret", err)
		}
	}
	var errs errorList
	validateKeys(&errs, "data", s.Data, nil)
	if hasOld {
		validateImmutable(&errs, &s, &old, false)
		if old.Type != s.Type {
			errs.invalid("type", quote(s.Type), "field is immutable")
		}
	}
	validateSecretType(&errs, &s)
	if len(errs) > 0 {
		return invalidResponse("Secret", objectName(req, s.Name), errs)
	}
	return allowed
}

// validateSecretType is the type switch of Kubernetes' ValidateSecret.
func validateSecretType(errs *errorList, s *dataObject) {
	has := func(k string) bool { _, ok := s.Data[k]; return ok }
	switch s.Type {
	case "", secretTypeOpaque:
	case secretTypeServiceAccountToken:
		if s.SAName == "" {
			errs.required("metadata.annotations[kubernetes.io/service-account.name]", "")
		}
	case secretTypeDockercfg, secretTypeDockerConfigJSON:
		k := ".dockercfg"
		if s.Type == secretTypeDockerConfigJSON {
			k = ".dockerconfigjson"
		}
		if !has(k) {
			errs.required(key("data", k), "")
			break
		}
		b, _ := base64.StdEncoding.DecodeString(s.Data[k])
		if err := json.Unmarshal(b, &map[string]any{}); err != nil {
			errs.invalid(key("data", k), quote("<secret contents redacted>"), err.Error())
		}
	case secretTypeBasicAuth:
		if !has("username") && !has("password") {
			errs.required("data[username]", "")
			errs.required("data[password]", "")
		}
	case secretTypeSSHAuth:
		if s.Data["ssh-privatekey"] == "" {
			errs.required("data[ssh-privatekey]", "")
		}
	case secretTypeTLS:
		if !has("tls.crt") {
			errs.required("data[tls.crt]", "")
		}
		if !has("tls.key") {
			errs.required("data[tls.key]", "")
		}
	}
}

// validateConfigMap checks data and binaryData keys, and an immutable ConfigMap.
func validateConfigMap(req *sdk.AdmissionRequest) sdk.AdmissionResponse {
	var c, old dataObject
	if err := decodeData(req.Object, &c); err != nil {
		return badRequest("ConfigMap", err)
	}
	var errs errorList
	validateKeys(&errs, "data", c.Data, nil)
	validateKeys(&errs, "binaryData", c.BinaryData, c.Data)
	if len(req.OldObject) > 0 {
		if err := decodeData(req.OldObject, &old); err != nil {
			return badRequest("ConfigMap", err)
		}
		validateImmutable(&errs, &c, &old, true)
	}
	if len(errs) > 0 {
		return invalidResponse("ConfigMap", objectName(req, c.Name), errs)
	}
	return allowed
}

// validateKeys checks the keys of one field, in order; a key also in earlier (the
// data of a ConfigMap, for binaryData) is a duplicate.
func validateKeys(errs *errorList, field string, m, earlier map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := key(field, k)
		for _, msg := range isConfigMapKey(k) {
			errs.invalid(p, quote(k), msg)
		}
		if _, dup := earlier[k]; dup {
			errs.invalid(p, quote(k), "duplicate of key present in data")
		}
	}
}

const immutableMsg = "field is immutable when `immutable` is set"

// validateImmutable refuses changes to the data of an object that was immutable.
func validateImmutable(errs *errorList, obj, old *dataObject, binary bool) {
	if old.Immutable == nil || !*old.Immutable {
		return
	}
	if obj.Immutable == nil || !*obj.Immutable {
		errs.forbidden("immutable", immutableMsg)
	}
	if !sameMap(obj.Data, old.Data) {
		errs.forbidden("data", immutableMsg)
	}
	if binary && !sameMap(obj.BinaryData, old.BinaryData) {
		errs.forbidden("binaryData", immutableMsg)
	}
}

// sameMap is reflect.DeepEqual for string maps: nil (absent) and empty differ.
func sameMap(a, b map[string]string) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
