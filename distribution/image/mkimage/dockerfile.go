// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// instruction is one Dockerfile instruction, its continuation lines joined.
type instruction struct {
	line    int    // where it starts, for errors
	keyword string // upper case: COPY, ENV, ...
	// flags are the --name=value options before the arguments (FROM, COPY, HEALTHCHECK).
	flags map[string]string
	args  string // what follows the keyword and the flags
}

func (in instruction) String() string {
	var b strings.Builder
	b.WriteString(in.keyword)
	for _, name := range sortedKeys(in.flags) {
		fmt.Fprintf(&b, " --%s=%s", name, in.flags[name])
	}
	if in.args != "" {
		b.WriteString(" " + in.args)
	}
	return b.String()
}

// errorf is an error that names the instruction's line. A string argument is quoted
// only in part, since it may be a whole instruction, megabytes long; so is the message,
// for what an error argument quotes.
func (in instruction) errorf(format string, a ...any) error {
	for i, v := range a {
		if s, ok := v.(string); ok {
			a[i] = excerpt(s)
		}
	}
	return fmt.Errorf("line %d: %s: %s", in.line, in.keyword, shorten(fmt.Sprintf(format, a...), maxMessageBytes))
}

// How much of a long text an error quotes, and how long its message may be.
const (
	excerptBytes    = 120
	maxMessageBytes = 1000
)

// excerpt is s, or its start and how long it is.
func excerpt(s string) string { return shorten(s, excerptBytes) }

// shorten is s, or its first n bytes and how long it is.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s... (%d bytes)", strings.ToValidUTF8(s[:n], ""), len(s))
}

// Limits on what a Dockerfile may make this tool hold: a line, and a variable's value
// after expansion, which a few nested ARGs can otherwise grow to gigabytes.
const (
	maxLineBytes  = 1 << 20
	maxValueBytes = 64 << 10
)

// stage is a FROM and the instructions up to the next FROM.
type stage struct {
	from         instruction
	base, name   string // the image it starts from; its AS name, lower case
	instructions []instruction
}

// flagged are the instructions whose leading --name=value words are options. RUN is not:
// this tool reads no RUN's options (the image's stage may have no RUN), and RUN repeats
// --mount.
var flagged = map[string]bool{"FROM": true, "COPY": true, "ADD": true, "HEALTHCHECK": true}

// parseDockerfile splits a Dockerfile into its stages. It knows the syntax (comments,
// parser directives, line continuations with the default escape character, options), not
// what the instructions mean; build does that for the stage it turns into an image.
func parseDockerfile(src []byte) ([]stage, error) {
	var (
		stages []stage
		lines  []string // the instruction being read, continued over several lines
		start  int
	)
	flush := func() error {
		if lines == nil {
			return nil
		}
		in, err := parseInstruction(start, strings.Join(lines, " "))
		lines = nil
		if err != nil {
			return err
		}
		switch {
		case in.keyword == "FROM":
			s, err := parseFrom(in)
			if err != nil {
				return err
			}
			stages = append(stages, s)
		case len(stages) == 0:
			// Before the first FROM only ARG may stand; those ARGs serve FROM lines, and this
			// tool reads no FROM but the last stage's, which must be scratch.
			if in.keyword != "ARG" {
				return in.errorf("only ARG may come before the first FROM")
			}
		default:
			stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, in)
		}
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 64*1024), maxLineBytes)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			// The escape directive would change what a continuation is.
			if n == 1 || lines == nil {
				if d := strings.ToLower(strings.ReplaceAll(line, " ", "")); strings.HasPrefix(d, "#escape=") {
					return nil, fmt.Errorf("line %d: the escape parser directive is not supported", n)
				}
			}
			continue
		}
		if line == "" {
			continue // an empty line ends nothing, not even a continued instruction
		}
		if lines == nil {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			lines = append(lines, strings.TrimSpace(cont))
			continue
		}
		lines = append(lines, line)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, fmt.Errorf("line %d: longer than %d MiB, the most a line may have", n+1, maxLineBytes>>20)
	} else if err != nil {
		return nil, err
	}
	if lines != nil {
		return nil, fmt.Errorf("line %d: the file ends inside a continued instruction", start)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("no FROM: not a Dockerfile")
	}
	return stages, nil
}

// parseInstruction splits one joined instruction into keyword, options and arguments.
func parseInstruction(line int, text string) (instruction, error) {
	keyword, args := cutSpace(text)
	in := instruction{line: line, keyword: strings.ToUpper(keyword), args: strings.TrimSpace(args)}
	if !flagged[in.keyword] {
		return in, nil
	}
	for strings.HasPrefix(in.args, "--") {
		word, rest := cutSpace(in.args)
		name, value, ok := strings.Cut(strings.TrimPrefix(word, "--"), "=")
		if !ok {
			return in, in.errorf("option %s has no value (write --name=value)", word)
		}
		if in.flags == nil {
			in.flags = map[string]string{}
		}
		if _, dup := in.flags[name]; dup {
			return in, in.errorf("option --%s given twice", name)
		}
		in.flags[name] = value
		in.args = strings.TrimSpace(rest)
	}
	return in, nil
}

// cutSpace splits s at its first space or tab.
func cutSpace(s string) (before, after string) {
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func parseFrom(in instruction) (stage, error) {
	words := strings.Fields(in.args)
	s := stage{from: in}
	switch {
	case len(words) == 1:
	case len(words) == 3 && strings.EqualFold(words[1], "AS"):
		s.name = strings.ToLower(words[2])
	default:
		return s, in.errorf("want FROM image [AS name], got %q", in.args)
	}
	s.base = words[0]
	return s, nil
}

// execForm reads a JSON array of strings (the exec form of ENTRYPOINT, CMD, VOLUME and
// HEALTHCHECK CMD); the shell form would need a shell, which the image does not have.
func execForm(in instruction, args string) ([]string, error) {
	if !strings.HasPrefix(args, "[") {
		return nil, in.errorf("only the exec form is supported (a JSON array, [\"...\"]), got %q", args)
	}
	var words []string
	if err := json.Unmarshal([]byte(args), &words); err != nil {
		return nil, in.errorf("not a JSON array of strings: %v", err)
	}
	if len(words) == 0 {
		return nil, in.errorf("an empty array")
	}
	return words, nil
}

// keyValues reads the name=value pairs of ENV, LABEL and ARG. A value is a word or a
// double-quoted string without backslashes; expand substitutes variables in each value.
// With bare (ARG), a name may also stand alone; its value is then nil.
func keyValues(in instruction, bare bool, expand func(string) (string, error)) ([]keyValue, error) {
	var pairs []keyValue
	for rest := strings.TrimSpace(in.args); rest != ""; rest = strings.TrimSpace(rest) {
		end := strings.IndexAny(rest, "= \t")
		if end < 0 {
			end = len(rest)
		}
		name := rest[:end]
		if !isName(name) && !(in.keyword == "LABEL" && name != "" && !strings.ContainsAny(name, "\"'$")) {
			return nil, in.errorf("%q is not a name", name)
		}
		if end == len(rest) || rest[end] != '=' {
			if !bare {
				return nil, in.errorf("want name=value pairs, got %q (the legacy \"NAME value\" form is not supported)", rest)
			}
			pairs = append(pairs, keyValue{name: name})
			rest = rest[end:]
			continue
		}
		after := rest[end+1:]
		var value string
		switch {
		case strings.HasPrefix(after, `"`):
			q := strings.IndexByte(after[1:], '"')
			if q < 0 {
				return nil, in.errorf("unterminated quote in %q", rest)
			}
			value, rest = after[1:1+q], after[2+q:]
			if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
				return nil, in.errorf("text right after a closing quote in %q", in.args)
			}
		case strings.HasPrefix(after, "'"):
			return nil, in.errorf("single quotes are not supported: %q", rest)
		default:
			value, rest = cutSpace(after)
		}
		if strings.Contains(value, `\`) {
			return nil, in.errorf("backslashes in values are not supported: %q", value)
		}
		value, err := expand(value)
		if err == nil {
			err = checkValue(value)
		}
		if err != nil {
			return nil, in.errorf("%s: %v", name, err)
		}
		pairs = append(pairs, keyValue{name: name, value: &value})
	}
	if len(pairs) == 0 {
		return nil, in.errorf("nothing to set")
	}
	return pairs, nil
}

// keyValue is one name=value of ENV, LABEL or ARG; value is nil for a bare ARG name.
type keyValue struct {
	name  string
	value *string
}

// checkValue refuses what a variable or label value cannot carry: control characters
// (but tab), which a process's environment or the tools that print labels would cut or
// misread; a NUL ends an environment string.
func checkValue(value string) error {
	if i := strings.IndexFunc(value, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }); i >= 0 {
		return fmt.Errorf("a control character (%q) at byte %d of the value", value[i], i)
	}
	return nil
}

// expandVars substitutes $NAME and ${NAME} from vars; a name that no ARG or ENV declared
// is an error (Docker would substitute nothing, which hides a typo), and so is any other
// form of ${...}. A value longer than maxValueBytes is an error too.
func expandVars(s string, vars map[string]string) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			i = len(s)
		}
		if b.Len()+i > maxValueBytes {
			return "", errValueTooLong
		}
		b.WriteString(s[:i])
		if i == len(s) {
			return b.String(), nil
		}
		s = s[i+1:]
		var name string
		if strings.HasPrefix(s, "{") {
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q", excerpt(s))
			}
			name, s = s[1:end], s[end+1:]
			if !isName(name) {
				return "", fmt.Errorf("${%s}: only ${NAME} is supported", excerpt(name))
			}
		} else {
			n := 0
			for n < len(s) && isNameByte(s[n], n == 0) {
				n++
			}
			if n == 0 {
				return "", fmt.Errorf("a $ that starts no variable name")
			}
			name, s = s[:n], s[n:]
		}
		value, ok := vars[name]
		if !ok {
			return "", fmt.Errorf("$%s: no ARG or ENV of this stage declares it", excerpt(name))
		}
		if b.Len()+len(value) > maxValueBytes {
			return "", errValueTooLong
		}
		b.WriteString(value)
	}
}

var errValueTooLong = fmt.Errorf("the value expands to more than %d KiB", maxValueBytes>>10)

func isName(s string) bool {
	for i := range len(s) {
		if !isNameByte(s[i], i == 0) {
			return false
		}
	}
	return s != ""
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || !first && '0' <= c && c <= '9'
}
