//! The generic block parser: a keepalived.conf is a tree of statements, each a keyword,
//! its arguments up to the end of the line, and an optional `{ ... }` block that may open
//! on the same line or the next one. The lines come from [`super::preproc`], which has
//! already expanded `include`, definitions and `~SEQ`, so the typed model never sees them.

use super::lexer::{tokenize_lines, Loc, Token, TokenKind};
use super::preproc::{Line, Options, Pre};
use super::Diag;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stmt {
    pub keyword: String,
    pub args: Vec<String>,
    pub block: Option<Vec<Stmt>>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{0}")]
    Lex(#[from] super::lexer::LexError),
    #[error("{loc}: {msg}")]
    Syntax { loc: Loc, msg: String },
    #[error("{}: cannot read: {msg}", path.display())]
    Read { path: PathBuf, msg: String },
}

/// Parses `path` and everything it includes. Warnings (e.g. an include matching no file)
/// are appended to `diags`.
pub fn parse_file(path: &Path, opts: &Options, diags: &mut Vec<Diag>) -> Result<Vec<Stmt>, ParseError> {
    let mut pre = Pre::new(opts, diags);
    pre.file(path, 0)?;
    parse_lines(&pre.out)
}

/// Parses `text` as the contents of `file` (includes are read from the file system).
pub fn parse_text(
    file: &Arc<Path>,
    text: &str,
    opts: &Options,
    diags: &mut Vec<Diag>,
) -> Result<Vec<Stmt>, ParseError> {
    let mut pre = Pre::new(opts, diags);
    pre.text(file, text, 0)?;
    parse_lines(&pre.out)
}

fn parse_lines(lines: &[Line]) -> Result<Vec<Stmt>, ParseError> {
    let tokens = tokenize_lines(lines)?;
    let mut p = Parser { tokens: &tokens, pos: 0 };
    p.block(None)
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn skip_newlines(&mut self) {
        while matches!(self.peek(), Some(Token { kind: TokenKind::Newline, .. })) {
            self.pos += 1;
        }
    }

    /// Statements up to the matching `}` (when `opened` is the `{`) or the end of input.
    fn block(&mut self, opened: Option<&Loc>) -> Result<Vec<Stmt>, ParseError> {
        let mut out = Vec::new();
        loop {
            self.skip_newlines();
            let Some(tok) = self.peek().cloned() else {
                return match opened {
                    Some(loc) => Err(ParseError::Syntax {
                        loc: loc.clone(),
                        msg: "unbalanced braces: this '{' is never closed".into(),
                    }),
                    None => Ok(out),
                };
            };
            self.pos += 1;
            match tok.kind {
                TokenKind::Close => {
                    return match opened {
                        Some(_) => Ok(out),
                        None => Err(ParseError::Syntax {
                            loc: tok.loc,
                            msg: "unbalanced braces: '}' without a matching '{'".into(),
                        }),
                    }
                }
                TokenKind::Open => {
                    return Err(ParseError::Syntax {
                        loc: tok.loc,
                        msg: "'{' without a keyword before it".into(),
                    })
                }
                TokenKind::Newline => unreachable!("skipped"),
                TokenKind::Word(keyword) => out.push(self.statement(keyword, tok.loc)?),
            }
        }
    }

    fn statement(&mut self, keyword: String, loc: Loc) -> Result<Stmt, ParseError> {
        let mut args = Vec::new();
        while let Some(TokenKind::Word(w)) = self.peek().map(|t| &t.kind) {
            args.push(w.clone());
            self.pos += 1;
        }
        // A block opens on this line, or on the next non-empty one.
        let save = self.pos;
        if matches!(self.peek(), Some(Token { kind: TokenKind::Newline, .. })) {
            self.skip_newlines();
        }
        let block = match self.peek() {
            Some(Token { kind: TokenKind::Open, loc: open }) => {
                let open = open.clone();
                self.pos += 1;
                Some(self.block(Some(&open))?)
            }
            _ => {
                self.pos = save;
                None
            }
        };
        Ok(Stmt { keyword, args, block, loc })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Stmt>, ParseError> {
        let f: Arc<Path> = PathBuf::from("t.conf").into();
        parse_text(&f, text, &Options::default(), &mut Vec::new())
    }

    fn shape(stmts: &[Stmt]) -> String {
        stmts
            .iter()
            .map(|s| {
                let mut o = s.keyword.clone();
                for a in &s.args {
                    o.push(' ');
                    o.push_str(a);
                }
                if let Some(b) = &s.block {
                    o.push_str(&format!(" {{{}}}", shape(b)));
                }
                o
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[test]
    fn nested_blocks_same_line_braces() {
        let s = parse("vs 1.1.1.1 80 {\n delay_loop 6\n rs 2.2.2.2 80 {\n  weight 1\n }\n}\n").unwrap();
        assert_eq!(shape(&s), "vs 1.1.1.1 80 {delay_loop 6; rs 2.2.2.2 80 {weight 1}}");
        assert_eq!(s[0].block.as_ref().unwrap()[1].loc.line, 3);
    }

    #[test]
    fn brace_on_next_line() {
        let s = parse("global_defs\n{\n  router_id LB1\n}\nnext 1\n").unwrap();
        assert_eq!(shape(&s), "global_defs {router_id LB1}; next 1");
    }

    #[test]
    fn brace_after_blank_and_comment_lines() {
        let s = parse("a\n# c\n\n{\n b\n}\n").unwrap();
        assert_eq!(shape(&s), "a {b}");
    }

    #[test]
    fn one_line_blocks() {
        let s = parse("rs 1.1.1.1 80 { weight 2\n TCP_CHECK { connect_timeout 3 } }\nx\n").unwrap();
        assert_eq!(shape(&s), "rs 1.1.1.1 80 {weight 2; TCP_CHECK {connect_timeout 3}}; x");
        // As in keepalived, a line is one statement: words after the arguments are arguments.
        let s = parse("a 1 b 2 { c }\n").unwrap();
        assert_eq!(shape(&s), "a 1 b 2 {c}");
    }

    #[test]
    fn empty_block() {
        assert_eq!(shape(&parse("a {}\nb { }\n").unwrap()), "a {}; b {}");
    }

    #[test]
    fn unclosed_brace_names_its_line() {
        let e = parse("a {\n b {\n }\n").unwrap_err();
        assert_eq!(e.to_string(), "t.conf:1: unbalanced braces: this '{' is never closed");
    }

    #[test]
    fn stray_close_brace() {
        let e = parse("a 1\n}\n").unwrap_err();
        assert_eq!(e.to_string(), "t.conf:2: unbalanced braces: '}' without a matching '{'");
    }

    #[test]
    fn brace_without_keyword() {
        assert!(parse("{ a }\n").unwrap_err().to_string().contains("without a keyword"));
    }

    #[test]
    fn include_globs_relative_to_including_file() {
        let dir = crate::testutil::TempDir::new("inc");
        std::fs::create_dir_all(dir.path().join("conf.d")).unwrap();
        std::fs::write(dir.path().join("conf.d/b.conf"), "vs 2\n").unwrap();
        std::fs::write(dir.path().join("conf.d/a.conf"), "vs 1 {\n include ../inner.inc\n}\n").unwrap();
        std::fs::write(dir.path().join("inner.inc"), "weight 5\n").unwrap();
        std::fs::write(dir.path().join("main.conf"), "top\ninclude conf.d/*.conf nothing/*.x\nend\n")
            .unwrap();
        let mut diags = Vec::new();
        let s = parse_file(&dir.path().join("main.conf"), &Options::default(), &mut diags).unwrap();
        assert_eq!(shape(&s), "top; vs 1 {weight 5}; vs 2; end");
        assert!(s[1].block.as_ref().unwrap()[0].loc.file.ends_with("inner.inc"));
        assert_eq!(diags.len(), 1);
        assert!(diags[0].to_string().contains("matches no file"), "{}", diags[0]);
    }

    #[test]
    fn include_loop_is_refused() {
        let dir = crate::testutil::TempDir::new("loop");
        std::fs::write(dir.path().join("self.conf"), "include self.conf\n").unwrap();
        let e = parse_file(&dir.path().join("self.conf"), &Options::default(), &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("nested more than"), "{e}");
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let e =
            parse_file(Path::new("/nonexistent/k.conf"), &Options::default(), &mut Vec::new()).unwrap_err();
        assert!(matches!(e, ParseError::Read { .. }));
    }
}
