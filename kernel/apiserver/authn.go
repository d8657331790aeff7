package apiserver

import (
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"weft.dev/weft/kernel/objects"
)

// Authenticator recognises the client of a request. ok is false when the request
// carries no credentials of this kind; err is set when it carries bad ones.
type Authenticator interface {
	Authenticate(r *http.Request) (u objects.User, ok bool, err error)
}

// ClientCertAuthenticator accepts client certificates the TLS layer has verified
// against the cluster CA. The common name is the user and the organizations are its
// groups, as in Kubernetes.
type ClientCertAuthenticator struct{}

// Authenticate implements Authenticator.
func (ClientCertAuthenticator) Authenticate(r *http.Request) (objects.User, bool, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return objects.User{}, false, nil
	}
	leaf := r.TLS.VerifiedChains[0][0]
	return objects.User{Name: leaf.Subject.CommonName, Groups: leaf.Subject.Organization}, true, nil
}

func (s *Server) authenticate(r *http.Request) (objects.User, error) {
	for _, a := range s.cfg.Authenticators {
		u, ok, err := a.Authenticate(r)
		if err != nil {
			return objects.User{}, apierrors.NewUnauthorized(err.Error())
		}
		if ok {
			u.Agent = r.UserAgent()
			return u, nil
		}
	}
	return objects.User{}, apierrors.NewUnauthorized("Unauthorized")
}
