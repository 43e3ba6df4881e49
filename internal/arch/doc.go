// Package arch holds no code: its test enforces the direction of
// dependencies between Loupe's packages, so the layering in the design
// (proxy -> capture -> store -> web -> browser; rules a library the proxy
// consults) cannot erode one import at a time.
package arch
