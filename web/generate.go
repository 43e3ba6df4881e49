package web

// The dashboard's TypeScript types of API answers, request bodies and feed
// messages are generated from the Go types of this package and of those it
// serves (flow, store, rules, ...), as listed in tygo.yaml at the
// repository root, into ui/src/api/gen: run `go generate ./web` after
// changing one. ./test.sh (ui/check-types.sh) fails while they are stale.

//go:generate go tool tygo generate --config ../tygo.yaml
