package ujson

import "bytes"

// AppendWithResourceVersion appends to dst the JSON object obj, as Marshal writes
// objects (compact, keys sorted), with metadata.resourceVersion set to rv and, when
// dropManagedFields, without metadata.managedFields: the bytes Marshal would write
// for the object so changed, without decoding and encoding it. Stored objects are
// kept without their resourceVersion, and every watch event and node delivery needs
// them with it.
//
// obj must be valid JSON without repeated keys, as Marshal's output is: only the
// structure up to the end of metadata is checked, and what follows is copied. It
// reports false, having appended nothing, for anything else up to there: whitespace,
// no metadata object, a resourceVersion already there, or a metadata key whose JSON
// has an escape, whose order Marshal's sort would not show in its bytes.
func AppendWithResourceVersion(dst, obj []byte, rv string, dropManagedFields bool) ([]byte, bool) {
	metaStart, metaEnd := -1, -1
	if len(obj) < 2 || obj[0] != '{' {
		return dst, false
	}
	i := 1
	for obj[i] != '}' {
		key, j, ok := scanKey(obj, i)
		if !ok {
			return dst, false
		}
		end, ok := skipValue(obj, j)
		if !ok || end >= len(obj) {
			return dst, false
		}
		if string(key) == "metadata" {
			if obj[j] != '{' {
				return dst, false
			}
			// What follows is copied as it is: a valid object without repeated keys
			// has no other metadata, and skipping spec and status was most of the
			// work.
			metaStart, metaEnd = j, end
			break
		}
		i = end
		if obj[i] == '}' {
			break
		}
		if obj[i] != ',' || i+1 >= len(obj) || obj[i+1] != '"' {
			return dst, false
		}
		i++
	}
	if metaStart < 0 || obj[len(obj)-1] != '}' {
		return dst, false
	}

	// metadata's members, as spans of obj.
	type member struct {
		start, end int
		key        []byte
	}
	var buf [16]member
	members := buf[:0]
	if k := metaStart + 1; obj[k] != '}' {
		for {
			key, j, ok := scanKey(obj, k)
			if !ok || bytes.IndexByte(key, '\\') >= 0 || string(key) == "resourceVersion" {
				return dst, false
			}
			end, ok := skipValue(obj, j)
			if !ok || end >= metaEnd {
				return dst, false
			}
			members = append(members, member{k, end, key})
			if obj[end] == '}' {
				break
			}
			if obj[end] != ',' {
				return dst, false
			}
			k = end + 1
		}
	}

	dst = append(dst, obj[:metaStart+1]...)
	first, placed := true, false
	put := func(b []byte) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, b...)
	}
	putRV := func() {
		if !first {
			dst = append(dst, ',')
		}
		first, placed = false, true
		dst = append(dst, `"resourceVersion":`...)
		dst = appendString(dst, rv)
	}
	for _, m := range members {
		if !placed && string(m.key) > "resourceVersion" {
			putRV()
		}
		if dropManagedFields && string(m.key) == "managedFields" {
			continue
		}
		put(obj[m.start:m.end])
	}
	if !placed {
		putRV()
	}
	return append(dst, obj[metaEnd-1:]...), true
}

// scanKey reads the object key at obj[i], a string followed by ':', and returns its
// bytes as written (escapes not undone) and the index of its value.
func scanKey(obj []byte, i int) (key []byte, value int, ok bool) {
	if i >= len(obj) || obj[i] != '"' {
		return nil, 0, false
	}
	end, ok := skipString(obj, i)
	if !ok || end >= len(obj) || obj[end] != ':' || end+1 >= len(obj) {
		return nil, 0, false
	}
	return obj[i+1 : end-1], end + 1, true
}

// skipString returns the index after the string that starts at obj[i].
func skipString(obj []byte, i int) (int, bool) {
	for j := i + 1; j < len(obj); j++ {
		switch obj[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// skipValue returns the index after the compact JSON value that starts at obj[i].
// It finds the value's end, and does not check what lies inside.
func skipValue(obj []byte, i int) (int, bool) {
	if i >= len(obj) {
		return 0, false
	}
	switch obj[i] {
	case '"':
		return skipString(obj, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(obj); j++ {
			switch obj[j] {
			case '"':
				end, ok := skipString(obj, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	case ',', '}', ']', ':':
		return 0, false
	}
	j := i
	for j < len(obj) && obj[j] != ',' && obj[j] != '}' && obj[j] != ']' {
		if obj[j] <= ' ' || obj[j] == '"' || obj[j] == '{' || obj[j] == '[' || obj[j] == ':' {
			return 0, false
		}
		j++
	}
	return j, true
}
