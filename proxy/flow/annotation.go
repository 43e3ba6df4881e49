package flow

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// Color is the colour a person gave a flow in the list, one of Colors, or
// "" for none.
type Color string

// The colours a flow can have: the six of Charles and Proxyman.
const (
	ColorRed    Color = "red"
	ColorOrange Color = "orange"
	ColorYellow Color = "yellow"
	ColorGreen  Color = "green"
	ColorBlue   Color = "blue"
	ColorPurple Color = "purple"
)

// Colors lists the colours in the order the dashboard offers them.
var Colors = []Color{ColorRed, ColorOrange, ColorYellow, ColorGreen, ColorBlue, ColorPurple}

// Valid reports whether c is one of Colors or "" (no colour).
func (c Color) Valid() bool { return c == "" || slices.Contains(Colors, c) }

// MaxComment bounds a flow's comment, in bytes of UTF-8: a note, not a
// document, and a list row carries it.
const MaxComment = 4096

// Annotation is what a person added to a flow: a mark, a colour, a comment.
// Loupe never sets it by itself. Its TypeScript twin lives in
// ui/src/api/types.ts.
type Annotation struct {
	Marked  bool   `json:"marked,omitempty"`
	Color   Color  `json:"color,omitempty"`
	Comment string `json:"comment,omitempty"`
}

// IsZero reports whether nothing was added.
func (a Annotation) IsZero() bool { return !a.Marked && a.Color == "" && a.Comment == "" }

// Ptr is the annotation as Flow.Annotation holds it: nil when empty.
func (a Annotation) Ptr() *Annotation {
	if a.IsZero() {
		return nil
	}
	return &a
}

// Value is the annotation a Flow.Annotation pointer stands for (zero when
// nil).
func (a *Annotation) Value() Annotation {
	if a == nil {
		return Annotation{}
	}
	return *a
}

// Clean returns a with what no valid annotation holds dropped: an unknown
// colour, a comment past MaxComment (cut at a character boundary) or not
// UTF-8 (invalid bytes replaced). Imports use it: a file may say anything.
func (a Annotation) Clean() Annotation {
	if !a.Color.Valid() {
		a.Color = ""
	}
	if !utf8.ValidString(a.Comment) {
		a.Comment = string([]rune(a.Comment)) // invalid bytes become U+FFFD
	}
	if len(a.Comment) > MaxComment {
		cut := MaxComment
		for cut > 0 && !utf8.RuneStart(a.Comment[cut]) {
			cut--
		}
		a.Comment = a.Comment[:cut]
	}
	return a
}

// AnnotationPatch changes an annotation; a nil field is left as it is, so
// that marking a flow never undoes a comment written meanwhile in another
// tab. Stores apply it atomically.
type AnnotationPatch struct {
	Marked  *bool   `json:"marked,omitempty"`
	Color   *Color  `json:"color,omitempty"`
	Comment *string `json:"comment,omitempty"`
}

// AnnotationError is a bad value in an AnnotationPatch: Field names it
// ("color", "comment").
type AnnotationError struct {
	Field, Message string
}

func (e *AnnotationError) Error() string { return e.Field + ": " + e.Message }

// Validate checks the fields that are set.
func (p AnnotationPatch) Validate() error {
	if p.Color != nil && !p.Color.Valid() {
		return &AnnotationError{"color", fmt.Sprintf("%q is not a colour: red, orange, yellow, green, blue, purple, or \"\" for none", string(*p.Color))}
	}
	if p.Comment != nil {
		if !utf8.ValidString(*p.Comment) {
			return &AnnotationError{"comment", "not valid UTF-8"}
		}
		if len(*p.Comment) > MaxComment {
			return &AnnotationError{"comment", fmt.Sprintf("%d bytes: at most %d", len(*p.Comment), MaxComment)}
		}
	}
	return nil
}

// Apply returns a with the patch's fields set.
func (p AnnotationPatch) Apply(a Annotation) Annotation {
	if p.Marked != nil {
		a.Marked = *p.Marked
	}
	if p.Color != nil {
		a.Color = *p.Color
	}
	if p.Comment != nil {
		a.Comment = *p.Comment
	}
	return a
}
