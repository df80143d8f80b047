package cost

import "math"

// units rounds size up to whole blocks of block bytes, at least one.
func units(size, block int) float64 {
	if size <= 0 {
		return 1
	}
	return math.Ceil(float64(size) / float64(block))
}
