//! The cheap bound checked before a UI module reaches oxc: source size and nesting depth (brackets,
//! braces, parentheses, template substitutions and JSX elements), so the common stack-exhaustion
//! inputs (`((((…`, `<div><div>…`) are refused with a clear reason before anything recursive runs.
//!
//! It is the first line only. oxc's parser, semantic pass, transformer and code generator all
//! recurse, and deep trees also come from constructs no bracket count sees (`1+1+1…`, `!!!!x`,
//! `a?b:c?…`, `Array<Array<…>>`); the guarantee that no input takes the server down is that the
//! transpile runs in a child process (`isolated.rs`).
//!
//! Not for: parsing. The scan is a conservative estimate: strings, comments and template text are
//! skipped so brackets inside them do not count; a regular expression literal is scanned as code
//! (a bracket in it may count), which only ever over-estimates.

/// Most bytes of module source transpiled: the whole manifest is bounded to the same
/// (`symphony_protocol::manifest::MAX_MANIFEST_BYTES`), so no registered module is refused here.
pub const MAX_MODULE_BYTES: usize = symphony_protocol::manifest::MAX_MANIFEST_BYTES;

/// Deepest nesting accepted. Hand-written pages nest a few dozen levels; oxc needs a few KiB of
/// stack per level in a debug build (measured: 400 JSX levels fit in 2 MiB, 800 do not), and the
/// child process gives it far more than 256 levels need (docs/security.md "Inputs that crash").
pub const MAX_NESTING: usize = 256;

/// Why a module is refused before transpiling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TooComplex {
    /// The source is over [`MAX_MODULE_BYTES`].
    TooLarge { bytes: usize },
    /// Nesting passes [`MAX_NESTING`] at byte `offset`.
    TooDeep { offset: usize },
}

impl TooComplex {
    pub fn message(&self) -> String {
        match self {
            TooComplex::TooLarge { bytes } => {
                format!("the module is {bytes} bytes; the limit is {MAX_MODULE_BYTES}")
            }
            TooComplex::TooDeep { .. } => {
                format!("the module nests deeper than {MAX_NESTING} levels")
            }
        }
    }
}

/// What the scanner is inside of.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    /// `(`, `[` or `{`.
    Code,
    /// A `${` substitution: its `}` returns to the template text.
    Substitution,
    /// A JSX element (`<div …>` … `</div>`).
    Element,
}

/// `Ok` when `source` is within both bounds.
pub fn check(source: &str) -> Result<(), TooComplex> {
    if source.len() > MAX_MODULE_BYTES {
        return Err(TooComplex::TooLarge {
            bytes: source.len(),
        });
    }
    let bytes = source.as_bytes();
    let mut stack: Vec<Open> = Vec::new();
    let mut i = 0;
    // The last byte of code that was not whitespace: tells a JSX `<` from a less-than.
    let mut previous = b';';
    let push = |stack: &mut Vec<Open>, open: Open, at: usize| {
        stack.push(open);
        if stack.len() > MAX_NESTING {
            Err(TooComplex::TooDeep { offset: at })
        } else {
            Ok(())
        }
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = find(bytes, i, b"\n").unwrap_or(bytes.len());
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = find(bytes, i + 2, b"*/").map_or(bytes.len(), |e| e + 2);
                continue;
            }
            b'"' | b'\'' => {
                i = skip_string(bytes, i);
                previous = b'"';
                continue;
            }
            // Template text, after its opening backtick or after a substitution's closing brace.
            b'`' | b'}' if b == b'`' || stack.last() == Some(&Open::Substitution) => {
                if b == b'}' {
                    stack.pop();
                }
                let (end, substitution) = skip_template_text(bytes, i + 1);
                if substitution {
                    push(&mut stack, Open::Substitution, i)?;
                }
                i = end;
                previous = b'"';
                continue;
            }
            b'(' | b'[' | b'{' => push(&mut stack, Open::Code, i)?,
            b')' | b']' => {
                stack.pop();
            }
            b'}' => {
                stack.pop();
            }
            b'<' => match bytes.get(i + 1) {
                Some(b'/') => {
                    // `</div>` or `</>`: skip the `/` too, so `</>` is not also read as `/>`.
                    pop_element(&mut stack);
                    i += 2;
                    previous = b'/';
                    continue;
                }
                Some(&next)
                    if (next == b'>' || next.is_ascii_alphabetic())
                        && starts_expression(previous, &source[..i]) =>
                {
                    push(&mut stack, Open::Element, i)?;
                }
                _ => {}
            },
            b'/' if bytes.get(i + 1) == Some(&b'>') => {
                pop_element(&mut stack);
            }
            _ => {}
        }
        if !b.is_ascii_whitespace() {
            previous = b;
        }
        i += 1;
    }
    Ok(())
}

/// Closes the innermost JSX element (and whatever unclosed brackets it still held).
fn pop_element(stack: &mut Vec<Open>) {
    if let Some(at) = stack.iter().rposition(|o| *o == Open::Element) {
        stack.truncate(at);
    }
}

/// Whether a `<` after `previous` (the last non-space byte) opens a JSX element rather than
/// comparing: after an operator, an opening bracket, `>` (a parent tag) or `return`.
fn starts_expression(previous: u8, before: &str) -> bool {
    matches!(
        previous,
        b'(' | b'[' | b'{' | b',' | b'=' | b':' | b'?' | b'>' | b'}' | b'&' | b'|' | b'!' | b';'
    ) || before.trim_end().ends_with("return")
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// The index after a `'…'`/`"…"` string starting at `start` (or its line's end: an unterminated
/// string, or an apostrophe in JSX text, stops at the newline).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => return i,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// From inside a template's text: the index after its closing backtick `(end, false)`, or after
/// the `${` that opens a substitution `(end, true)`.
fn skip_template_text(bytes: &[u8], mut i: usize) -> (usize, bool) {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'`' => return (i + 1, false),
            b'$' if bytes.get(i + 1) == Some(&b'{') => return (i + 2, true),
            _ => i += 1,
        }
    }
    (bytes.len(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deep(open: &str, close: &str, n: usize) -> String {
        format!("export const a = {}1{};", open.repeat(n), close.repeat(n))
    }

    #[test]
    fn deep_brackets_jsx_and_templates_are_refused() {
        for (open, close) in [
            ("(", ")"),
            ("[", "]"),
            ("{a:", "}"),
            ("<div>", "</div>"),
            ("<>", "</>"),
            ("`${", "}`"),
        ] {
            assert_eq!(check(&deep(open, close, MAX_NESTING)), Ok(()), "{open}");
            assert!(
                matches!(
                    check(&deep(open, close, MAX_NESTING + 1)),
                    Err(TooComplex::TooDeep { .. })
                ),
                "{open}"
            );
        }
        // The input: unbalanced, and refused at the first level too many.
        assert_eq!(
            check(&"(".repeat(200_000)),
            Err(TooComplex::TooDeep {
                offset: MAX_NESTING
            })
        );
    }

    #[test]
    fn brackets_in_strings_comments_and_template_text_do_not_count() {
        let many = "(".repeat(MAX_NESTING * 2);
        for source in [
            format!("const a = \"{many}\";"),
            format!("const a = '{many}';"),
            format!("// {many}\nconst a = 1;"),
            format!("/* {many} */ const a = 1;"),
            format!("const a = `{many} ${{1}} {many}`;"),
            format!("const a = <p>Don't {many}\n</p>;"),
        ] {
            assert_eq!(check(&source), Ok(()), "{source:.60}");
        }
    }

    #[test]
    fn closers_hidden_in_strings_do_not_hide_depth() {
        let source = format!("{}\")\"", "(".repeat(MAX_NESTING + 1));
        assert!(check(&source).is_err());
    }

    #[test]
    fn comparisons_and_generics_are_not_elements() {
        let n = MAX_NESTING + 10;
        let compares = "if (a<b) {}\n".repeat(n);
        assert_eq!(check(&compares), Ok(()));
        let generics = "const s = useState<string>(\"\");\n".repeat(n);
        assert_eq!(check(&generics), Ok(()));
        let self_closing = "const x = <br/>;\n".repeat(n);
        assert_eq!(check(&self_closing), Ok(()));
    }

    #[test]
    fn a_source_over_the_size_bound_is_refused() {
        let big = " ".repeat(MAX_MODULE_BYTES + 1);
        assert_eq!(
            check(&big),
            Err(TooComplex::TooLarge {
                bytes: MAX_MODULE_BYTES + 1
            })
        );
    }
}
