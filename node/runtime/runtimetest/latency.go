package runtimetest

import (
	"slices"
	"time"
)

// PercentileMs is the q-quantile (nearest rank) of lat in milliseconds; it sorts lat.
func PercentileMs(lat []time.Duration, q float64) float64 {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	i := int(q*float64(len(lat))+0.5) - 1
	return float64(lat[min(max(i, 0), len(lat)-1)].Microseconds()) / 1000
}
