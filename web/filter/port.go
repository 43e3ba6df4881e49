package filter

import "loupe/proxy/store/query"

// portOf is the port an absolute URL addresses, as port: terms compare it
// (query.PortOf).
func portOf(u string) int { return query.PortOf(u) }
