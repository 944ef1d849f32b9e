//! Tokenizer for keepalived.conf: words, quoted strings, braces and line ends, each with
//! the file and line it came from.
//!
//! keepalived's rules: `#` and `!` start a comment anywhere on a line (outside quotes),
//! braces are tokens of their own even when glued to a word, and a double-quoted string
//! is one word (with `\"` and `\\` escapes) that may contain spaces, `#`, `!` and braces.
//! Outside quotes, `\#` and `\!` are the characters themselves, not a comment.
//! [`tokenize_lines`] takes the lines [`super::preproc`] made, each with its own file:line.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Where a token (and so a statement or a diagnostic) comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: Arc<Path>,
    pub line: u32,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// A bare word or a quoted string (quotes removed).
    Word(String),
    Open,
    Close,
    /// End of a non-empty line.
    Newline,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{loc}: {msg}")]
pub struct LexError {
    pub loc: Loc,
    pub msg: String,
}

/// Splits `text` (the contents of `file`) into tokens.
pub fn tokenize(file: &Arc<Path>, text: &str) -> Result<Vec<Token>, LexError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let loc = Loc { file: file.clone(), line: i as u32 + 1 };
        push_line(line, loc, &mut out)?;
    }
    Ok(out)
}

/// Splits preprocessed lines into tokens.
pub fn tokenize_lines(lines: &[super::preproc::Line]) -> Result<Vec<Token>, LexError> {
    let mut out = Vec::new();
    for l in lines {
        push_line(&l.text, l.loc.clone(), &mut out)?;
    }
    Ok(out)
}

fn push_line(line: &str, loc: Loc, out: &mut Vec<Token>) -> Result<(), LexError> {
    let before = out.len();
    tokenize_line(line, &loc, out)?;
    if out.len() > before {
        out.push(Token { kind: TokenKind::Newline, loc });
    }
    Ok(())
}

fn tokenize_line(line: &str, loc: &Loc, out: &mut Vec<Token>) -> Result<(), LexError> {
    let mut chars = line.chars().peekable();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<Token>| {
        if !word.is_empty() {
            out.push(Token { kind: TokenKind::Word(std::mem::take(word)), loc: loc.clone() });
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '#' | '!' => break,
            '{' | '}' => {
                flush(&mut word, out);
                let kind = if c == '{' { TokenKind::Open } else { TokenKind::Close };
                out.push(Token { kind, loc: loc.clone() });
            }
            '"' => {
                flush(&mut word, out);
                let mut s = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => match chars.next() {
                            Some(e @ ('"' | '\\')) => s.push(e),
                            Some(e) => {
                                s.push('\\');
                                s.push(e);
                            }
                            None => s.push('\\'),
                        },
                        c => s.push(c),
                    }
                }
                if !closed {
                    return Err(LexError { loc: loc.clone(), msg: "unterminated quoted string".into() });
                }
                out.push(Token { kind: TokenKind::Word(s), loc: loc.clone() });
            }
            c if c.is_whitespace() => flush(&mut word, out),
            '\\' if matches!(chars.peek(), Some('#' | '!')) => word.push(chars.next().unwrap_or('#')),
            c => word.push(c),
        }
    }
    flush(&mut word, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn kinds(text: &str) -> Vec<TokenKind> {
        let f: Arc<Path> = PathBuf::from("t.conf").into();
        tokenize(&f, text).unwrap().into_iter().map(|t| t.kind).collect()
    }

    fn w(s: &str) -> TokenKind {
        TokenKind::Word(s.into())
    }

    #[test]
    fn words_braces_and_newlines() {
        use TokenKind::*;
        assert_eq!(
            kinds("virtual_server 1.2.3.4 80 {\n  delay_loop 6\n}\n"),
            vec![
                w("virtual_server"),
                w("1.2.3.4"),
                w("80"),
                Open,
                Newline,
                w("delay_loop"),
                w("6"),
                Newline,
                Close,
                Newline
            ]
        );
    }

    #[test]
    fn glued_braces_are_split() {
        use TokenKind::*;
        assert_eq!(kinds("a{b}"), vec![w("a"), Open, w("b"), Close, Newline]);
    }

    #[test]
    fn comments_anywhere_and_blank_lines_dropped() {
        use TokenKind::*;
        assert_eq!(
            kinds("# full\n! bang\n\n  weight 3 # trailing\nx 1! y\n"),
            vec![w("weight"), w("3"), Newline, w("x"), w("1"), Newline]
        );
    }

    #[test]
    fn quoted_strings_keep_spaces_and_comment_chars() {
        use TokenKind::*;
        assert_eq!(
            kinds(r#"misc_path "/bin/check -x # {y} \"q\" !" 1"#),
            vec![w("misc_path"), w(r#"/bin/check -x # {y} "q" !"#), w("1"), Newline]
        );
    }

    #[test]
    fn escaped_comment_characters_are_kept() {
        use TokenKind::*;
        assert_eq!(kinds("auth_pass ab\\#1\\!2 # c\n"), vec![w("auth_pass"), w("ab#1!2"), Newline]);
    }

    #[test]
    fn unterminated_quote_names_the_line() {
        let f: Arc<Path> = PathBuf::from("k.conf").into();
        let e = tokenize(&f, "a\nb \"oops\n").unwrap_err();
        assert_eq!(e.to_string(), "k.conf:2: unterminated quoted string");
    }

    #[test]
    fn lines_are_tracked() {
        let f: Arc<Path> = PathBuf::from("t.conf").into();
        let t = tokenize(&f, "\n\na\n\nb\n").unwrap();
        assert_eq!(t[0].loc.line, 3);
        assert_eq!(t[2].loc.line, 5);
    }
}
