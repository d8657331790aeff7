package image

import "errors"

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrNotPresent means the image is not in the store and policy forbids pulling.
	ErrNotPresent = errors.New("image not present")
	// ErrPull means a registry pull failed.
	ErrPull = errors.New("image pull")
	// ErrImport means a tarball could not be imported or unpacked.
	ErrImport = errors.New("image import")
)
