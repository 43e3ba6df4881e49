// Package query is the flow query both stores execute: the terms of the
// dashboard's filter language (parsed by web/filter) as a value, plus the
// paging of a list and the shape of its answer. A query evaluates itself
// against a *flow.Flow in Go (the memory store, the durable capture's
// residual checks, the live feed) and against a flow.Summary where a
// summary holds everything a term needs; the durable capture compiles the
// same terms to SQL.
//
// The meaning of every term lives here, once: HostOf, PathOf, PortOf, Glob
// and Lower are exported so that a store that precomputes columns computes
// exactly what Match compares.
//
// The package must never import web, SQL or a store, and never read bodies
// itself: callers pass a Bodies function.
package query
