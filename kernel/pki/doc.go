// Package pki owns the cluster's certificate authority and the certificates the kernel
// issues from it: the API server's serving certificate and client certificates such as
// the admin's. The CA is generated on first start and kept in the data dir; everything
// else is re-issued from it when missing, expired soon, or no longer matching.
//
// Layout under the data dir:
//
//	pki/ca.crt, pki/ca.key          cluster CA (ECDSA P-256), 10 years
//	pki/apiserver.crt, .key         serving certificate, SANs from Config, 1 year
//	pki/admin.crt, pki/admin.key    CN=weft-admin, O=system:masters, 1 year
package pki
