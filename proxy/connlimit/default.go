package connlimit

// defaultMax is the bound when the file limit allows it.
const defaultMax = 8192

// fromFileLimit derives the bound from a file-descriptor limit: a third of
// what remains after a reserve, at least 16, at most defaultMax.
func fromFileLimit(nofile uint64) int {
	const reserve = 256
	if nofile <= reserve+48 {
		return 16
	}
	return int(min((nofile-reserve)/3, defaultMax))
}
