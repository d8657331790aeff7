package core

// strSet is a set of strings for the few names a pod has: a slice scanned linearly
// while small (no hashing, which inside the guest has no AES help), a map beyond.
type strSet struct {
	small []string
	big   map[string]struct{}
}

const strSetSmall = 16

func (s *strSet) has(k string) bool {
	if s.big != nil {
		_, ok := s.big[k]
		return ok
	}
	for _, x := range s.small {
		if x == k {
			return true
		}
	}
	return false
}

func (s *strSet) add(k string) {
	if s.big != nil {
		s.big[k] = struct{}{}
		return
	}
	if len(s.small) < strSetSmall {
		s.small = append(s.small, k)
		return
	}
	s.big = make(map[string]struct{}, 2*strSetSmall)
	for _, x := range s.small {
		s.big[x] = struct{}{}
	}
	s.big[k] = struct{}{}
}
