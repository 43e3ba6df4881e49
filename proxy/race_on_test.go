//go:build race

package proxy_test

// raceEnabled slows everything several times; real-time bounds widen.
const raceEnabled = true
