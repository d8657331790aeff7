package apiserver

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// limiter bounds requests in flight, as kube-apiserver's max-requests-inflight does:
// past the bound a request is refused at once with 429 and Retry-After, rather than
// queued until every client times out.
type limiter struct {
	slots chan struct{}
	kind  string
}

func newLimiter(n int, kind string) *limiter {
	return &limiter{slots: make(chan struct{}, n), kind: kind}
}

func (l *limiter) acquire() bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (l *limiter) release() { <-l.slots }

func tooManyRequests(kind string) error {
	return apierrors.NewTooManyRequests(fmt.Sprintf("too many %s requests in flight, please try again later", kind), 1)
}
