//! keepalived's line-level preprocessing, done before the words are split: comments,
//! `@ID` conditional lines, `$NAME=VALUE` definitions (multi-line ones with a trailing
//! `\`) and their use as `$NAME` or `${NAME}`, `~SEQ(...)` and `~LST(...)` repetition,
//! and `include` (globs, `{a,b}` alternatives, relative to the including file), all with
//! keepalived 2.2's rules (`lib/parser.c`: `read_line`, `check_definition`,
//! `replace_param`, `add_seq`, `add_lst`). What comes out is the file's lines as
//! keepalived's parser would see them, each with the file:line it comes from (a line made
//! by a definition or a `~SEQ` has the line that used it).

use super::lexer::Loc;
use super::parser::ParseError;
use super::{Diag, Severity};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Includes nested deeper than this are refused (keepalived's limit is similar), which
/// also stops a file that includes itself.
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// Definitions that use definitions, `~SEQ` in `~SEQ`: deeper than this is a loop.
const MAX_EXPANSION_DEPTH: usize = 64;
/// Replacements in one line (a definition that contains its own name never ends).
const MAX_REPLACEMENTS: usize = 10_000;
/// Lines one `~SEQ`/`~LST` may produce.
const MAX_REPEAT: i64 = 65_536;

/// How the configuration is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// keepalived's `-i ID` (`@ID` lines are kept, `@^ID` lines dropped); None: the host
    /// name up to its first dot, keepalived's default.
    pub config_id: Option<String>,
}

impl Options {
    /// The id `@ID` lines are compared with.
    pub fn resolved_id(&self) -> String {
        self.config_id.clone().unwrap_or_else(short_hostname)
    }
}

/// The host name up to its first dot (keepalived's default config id): the UTS name
/// `gethostname` returns, as the kernel shows it.
pub fn short_hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    name.trim().split('.').next().unwrap_or_default().to_string()
}

/// One line of the configuration, after preprocessing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub loc: Loc,
    pub text: String,
}

#[derive(Debug, Clone)]
struct Def {
    value: String,
    multiline: bool,
}

/// The preprocessor's state: definitions are global across included files, as in
/// keepalived (one stream).
pub struct Pre<'a> {
    config_id: String,
    defs: BTreeMap<String, Def>,
    /// The multi-line definition being read (its lines end with `\`).
    pending: Option<String>,
    diags: &'a mut Vec<Diag>,
    pub out: Vec<Line>,
}

fn syntax(loc: &Loc, msg: impl Into<String>) -> ParseError {
    ParseError::Syntax { loc: loc.clone(), msg: msg.into() }
}

impl<'a> Pre<'a> {
    pub fn new(opts: &Options, diags: &'a mut Vec<Diag>) -> Self {
        Pre { config_id: opts.resolved_id(), defs: BTreeMap::new(), pending: None, diags, out: Vec::new() }
    }

    pub fn file(&mut self, path: &Path, depth: usize) -> Result<(), ParseError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ParseError::Read { path: path.to_path_buf(), msg: e.to_string() })?;
        let file: Arc<Path> = path.into();
        self.text(&file, &text, depth)
    }

    pub fn text(&mut self, file: &Arc<Path>, text: &str, depth: usize) -> Result<(), ParseError> {
        for (i, raw) in text.lines().enumerate() {
            let loc = Loc { file: file.clone(), line: i as u32 + 1 };
            if let Some(name) = self.pending.clone() {
                // A blank line ends a multi-line definition; a comment line does not.
                if raw.trim().is_empty() {
                    self.pending = None;
                    continue;
                }
                let l = decomment(raw, &loc)?;
                if l.is_empty() {
                    continue;
                }
                let def = self.defs.get_mut(&name).expect("pending definition exists");
                match l.strip_suffix('\\') {
                    Some(body) => {
                        let body = body.trim_end();
                        if !body.is_empty() {
                            def.value.push_str(body);
                            def.value.push('\n');
                        }
                    }
                    None => {
                        def.value.push_str(&l);
                        self.pending = None;
                    }
                }
                continue;
            }
            let l = decomment(raw, &loc)?;
            if !l.is_empty() {
                self.line(l, &loc, depth, 0)?;
            }
        }
        self.pending = None;
        Ok(())
    }

    /// One logical line: `@ID`, a definition, `~SEQ`/`~LST`, `$NAME` uses, `include`.
    fn line(&mut self, text: String, loc: &Loc, depth: usize, nest: usize) -> Result<(), ParseError> {
        if nest > MAX_EXPANSION_DEPTH {
            return Err(syntax(
                loc,
                "definitions or ~SEQ/~LST nested too deep (a definition that uses itself?)",
            ));
        }
        let mut text = text;
        if let Some(rest) = text.strip_prefix('@') {
            let (negate, rest) = match rest.strip_prefix('^') {
                Some(r) => (true, r),
                None => (false, rest),
            };
            // keepalived drops an `@ID` with nothing after it.
            let Some(ws) = rest.find([' ', '\t']) else { return Ok(()) };
            if (rest[..ws] == self.config_id) == negate {
                return Ok(());
            }
            text = rest[ws..].trim_start().to_string();
        }
        if let Some((name, value)) = definition(&text) {
            let (value, multiline) = match value.strip_suffix('\\') {
                Some(v) => {
                    let v = v.trim_end();
                    (if v.is_empty() { String::new() } else { format!("{v}\n") }, true)
                }
                None => (value.to_string(), false),
            };
            self.defs.insert(name.to_string(), Def { value, multiline });
            if multiline {
                self.pending = Some(name.to_string());
            }
            return Ok(());
        }
        if text.starts_with("~SEQ") || text.starts_with("~LST") {
            let (sets, rest) =
                if text.starts_with("~SEQ") { self.seq(&text, loc)? } else { lst(&text, loc)? };
            for set in sets {
                for (var, val) in set {
                    self.defs.insert(var, Def { value: val, multiline: false });
                }
                self.line(rest.clone(), loc, depth, nest + 1)?;
            }
            return Ok(());
        }
        let mut extra = Vec::new();
        if text.contains('$') {
            let (replaced, more) = self.replace(&text, loc)?;
            if replaced != text {
                text = decomment(&replaced, loc)?;
            }
            extra = more;
        }
        if !text.is_empty() {
            if let Some((kind, rest)) = include_line(&text) {
                self.include(kind, rest, loc, depth)?;
            } else {
                self.out.push(Line { loc: loc.clone(), text });
            }
        }
        for l in extra {
            let l = decomment(&l, loc)?;
            if !l.is_empty() {
                self.line(l, loc, depth, nest + 1)?;
            }
        }
        Ok(())
    }

    /// The value of a definition, or of one of keepalived's own (`_PWD`, `_INSTANCE`,
    /// `_HASH`, `_BANG`, `_ENV NAME`).
    fn value(&self, name: &str, params: &[&str], loc: &Loc) -> Option<Def> {
        if let Some(d) = self.defs.get(name) {
            return Some(d.clone());
        }
        let v = match (name, params) {
            ("_PWD", []) => file_dir(&loc.file),
            ("_INSTANCE", []) => self.config_id.clone(),
            ("_HASH", []) => "#".into(),
            ("_BANG", []) => "!".into(),
            ("_ENV", [var]) => std::env::var(var).unwrap_or_default(),
            _ => return None,
        };
        Some(Def { value: v, multiline: false })
    }

    /// Replaces every `$NAME` (followed by a blank, `,`, `)` or the end) and `${NAME}` that
    /// is defined, again in what replaced it. A multi-line definition, allowed last on the
    /// line only, puts its first line here and returns the others.
    fn replace(&self, text: &str, loc: &Loc) -> Result<(String, Vec<String>), ParseError> {
        let mut s = text.to_string();
        let mut extra: Vec<String> = Vec::new();
        let mut pos = 0;
        let mut count = 0;
        while let Some(off) = s[pos..].find('$') {
            let at = pos + off;
            let Some((len, name, params)) = reference(&s[at..]) else {
                pos = at + 1;
                continue;
            };
            let params: Vec<&str> = params.split_whitespace().collect();
            let at_end = at + len == s.len();
            let Some(def) = self.value(&name, &params, loc).filter(|d| at_end || !d.multiline) else {
                pos = at + 1;
                continue;
            };
            count += 1;
            if count > MAX_REPLACEMENTS {
                return Err(syntax(loc, "definitions expand without end (a definition that uses itself?)"));
            }
            let value = if def.multiline {
                let mut lines = def.value.split('\n');
                let first = lines.next().unwrap_or_default().to_string();
                let mut rest: Vec<String> = lines.map(str::to_string).collect();
                rest.append(&mut extra);
                extra = rest;
                first
            } else {
                def.value
            };
            s.replace_range(at..at + len, &value);
            // Rescanned from here: a value may use definitions too (keepalived does so).
            pos = at;
        }
        Ok((s, extra))
    }

    /// `~SEQ(VAR, [START,] [STEP,] END) REST` and `~SEQx(...)` (hex values).
    #[allow(clippy::type_complexity)]
    fn seq(&self, text: &str, loc: &Loc) -> Result<(Vec<Vec<(String, String)>>, String), ParseError> {
        let bad = || syntax(loc, format!("invalid ~SEQ specification {text:?}"));
        let mut p = &text[4..];
        let hex = p.starts_with('x');
        if hex {
            p = &p[1..];
        }
        let p = p.trim_start().strip_prefix('(').ok_or_else(bad)?;
        let close = p.find(')').ok_or_else(bad)?;
        let (inner, rest) = (&p[..close], p[close + 1..].trim_start());
        let mut parts = inner.split(',').map(str::trim);
        let var = parts.next().filter(|v| !v.is_empty() && !v.starts_with('{')).ok_or_else(bad)?;
        let nums: Vec<&str> = parts.collect();
        let mut vals = Vec::new();
        for n in &nums {
            // The numbers may be definitions themselves.
            let (n, more) = self.replace(n, loc)?;
            if !more.is_empty() {
                return Err(syntax(loc, format!("~SEQ parameter is a multi-line definition: {text:?}")));
            }
            vals.push(strtol(n.trim()).ok_or_else(bad)?);
        }
        let (start, step, end) = match vals.as_slice() {
            [end] => (if *end < 0 { -1 } else { 1 }, if *end < 1 { -1 } else { 1 }, *end),
            [start, end] => (*start, if start <= end { 1 } else { -1 }, *end),
            [start, step, end] => {
                if *step == 0 || (start < end && *step < 0) || (start > end && *step > 0) {
                    return Err(syntax(loc, format!("invalid ~SEQ values {text:?}")));
                }
                (*start, *step, *end)
            }
            _ => return Err(bad()),
        };
        if hex && (start < 0 || end < 0) {
            return Err(syntax(loc, format!("~SEQx is only valid for positive numbers: {text:?}")));
        }
        // In i128: the bounds are any i64, their difference may not be.
        if (i128::from(end) - i128::from(start)) / i128::from(step) >= i128::from(MAX_REPEAT) {
            return Err(syntax(loc, format!("~SEQ makes more than {MAX_REPEAT} lines: {text:?}")));
        }
        let mut sets = Vec::new();
        let (mut v, step, end) = (i128::from(start), i128::from(step), i128::from(end));
        while (step > 0 && v <= end) || (step < 0 && v >= end) {
            let s = if hex { format!("{v:x}") } else { v.to_string() };
            sets.push(vec![(var.to_string(), s)]);
            v += step;
        }
        Ok((sets, rest.to_string()))
    }

    fn include(&mut self, kind: char, rest: &str, loc: &Loc, depth: usize) -> Result<(), ParseError> {
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(syntax(
                loc,
                format!("includes nested more than {MAX_INCLUDE_DEPTH} deep (an include loop?)"),
            ));
        }
        let patterns: Vec<&str> = rest.split_whitespace().map(|p| p.trim_matches('"')).collect();
        if patterns.is_empty() {
            return Err(syntax(loc, "include needs a file name"));
        }
        let base = loc.file.parent().map(Path::to_path_buf).unwrap_or_default();
        for pattern in patterns {
            let mut files: Vec<PathBuf> = Vec::new();
            for alt in expand_braces(pattern) {
                let full = if Path::new(&alt).is_absolute() { PathBuf::from(&alt) } else { base.join(&alt) };
                let pat = full.to_string_lossy().into_owned();
                let mut found: Vec<PathBuf> = match glob::glob(&pat) {
                    Ok(paths) => paths.filter_map(Result::ok).filter(|p| p.is_file()).collect(),
                    Err(e) => return Err(syntax(loc, format!("bad include pattern {pattern:?}: {e}"))),
                };
                found.sort();
                files.extend(found);
            }
            if files.is_empty() {
                // `includer` (and keepalived's other checked forms) require a match.
                if kind != ' ' {
                    return Err(syntax(loc, format!("include{kind} {pattern:?} matches no file")));
                }
                self.diags.push(Diag::new(
                    Severity::Warning,
                    Some(loc.clone()),
                    format!("include {pattern:?} matches no file"),
                ));
            }
            for f in files {
                self.file(&f, depth + 1)?;
            }
        }
        Ok(())
    }
}

/// keepalived's `decomment`: leading and trailing blanks and comments (`#` or `!` outside
/// double quotes, not escaped by `\`) removed. `\#` and `\!` stay escaped for the lexer.
pub fn decomment(line: &str, loc: &Loc) -> Result<String, ParseError> {
    let s = line.trim_start();
    let mut quote = false;
    let mut end = s.len();
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        match c {
            '"' => quote = !quote,
            '\\' => {
                it.next();
            }
            '#' | '!' if !quote => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    if quote && end == s.len() {
        return Err(syntax(loc, "unterminated quoted string"));
    }
    Ok(s[..end].trim_end().to_string())
}

/// `$NAME=VALUE` (no blank before `=`; blanks after it skipped): (NAME, VALUE).
fn definition(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix('$')?;
    let eq = rest.find('=')?;
    let name = &rest[..eq];
    let mut chars = name.chars();
    let first = chars.next()?;
    if !(first.is_ascii_alphabetic() || first == '_') || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    Some((name, rest[eq + 1..].trim_start_matches([' ', '\t'])))
}

/// At a `$`: `$NAME` ended by a blank, `,`, `)` or the end, or `${NAME[ PARAMS]}`:
/// (length of the reference, NAME, PARAMS).
fn reference(s: &str) -> Option<(usize, String, String)> {
    let body = s.strip_prefix('$')?;
    let braces = body.starts_with('{');
    let body = if braces { &body[1..] } else { body };
    let first = body.chars().next()?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    let name_len = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(body.len());
    let name = body[..name_len].to_string();
    if braces {
        let close = body.find('}')?;
        let params = &body[name_len..close];
        if !params.is_empty()
            && (!params.starts_with([' ', '\t'])
                || params.ends_with([' ', '\t'])
                || !params.chars().all(|c| c == ' ' || c == '\t' || c.is_ascii_alphanumeric() || c == '_'))
        {
            return None;
        }
        Some((close + 3, name, params.trim().to_string()))
    } else {
        match body[name_len..].chars().next() {
            None | Some(' ' | '\t' | ',' | ')') => Some((name_len + 1, name, String::new())),
            _ => None,
        }
    }
}

/// C's `strtol(s, _, 0)` for a whole word: decimal, `0x` hex or `0` octal, with a sign.
fn strtol(s: &str) -> Option<i64> {
    let (neg, d) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = d.strip_prefix("0x").or_else(|| d.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if d.len() > 1 && d.starts_with('0') {
        i64::from_str_radix(&d[1..], 8).ok()?
    } else {
        d.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

/// `~LST(VAR, V1, V2, ...) REST` or `~LST({VAR1, VAR2}, {V1, V2}, {V3, V4}, ...) REST`.
#[allow(clippy::type_complexity)]
fn lst(text: &str, loc: &Loc) -> Result<(Vec<Vec<(String, String)>>, String), ParseError> {
    let bad = || syntax(loc, format!("invalid ~LST specification {text:?}"));
    let p = text[4..].trim_start().strip_prefix('(').ok_or_else(bad)?;
    // Items at the top level, separated by commas; `{...}` groups.
    let mut items: Vec<Vec<String>> = Vec::new();
    let mut group: Option<Vec<String>> = None;
    let mut word = String::new();
    let mut end = None;
    for (i, c) in p.char_indices() {
        match c {
            '{' if group.is_none() && word.trim().is_empty() => group = Some(Vec::new()),
            '}' if group.is_some() => {
                let mut g = group.take().unwrap_or_default();
                g.push(word.trim().to_string());
                word.clear();
                items.push(g);
            }
            ',' if group.is_some() => {
                if let Some(g) = group.as_mut() {
                    g.push(word.trim().to_string());
                }
                word.clear();
            }
            ',' | ')' => {
                if !word.trim().is_empty() {
                    items.push(vec![word.trim().to_string()]);
                }
                word.clear();
                if c == ')' {
                    end = Some(i);
                    break;
                }
            }
            c => word.push(c),
        }
    }
    let end = end.ok_or_else(bad)?;
    let rest = p[end + 1..].trim_start().to_string();
    let mut items = items.into_iter();
    let vars = items.next().ok_or_else(bad)?;
    if vars.iter().any(String::is_empty) {
        return Err(bad());
    }
    let mut sets = Vec::new();
    for vals in items {
        if vals.len() > vars.len() {
            return Err(syntax(loc, format!("~LST specification has too many values {text:?}")));
        }
        let set = vars
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), vals.get(i).cloned().unwrap_or_default()))
            .collect();
        sets.push(set);
    }
    if sets.is_empty() {
        return Err(bad());
    }
    Ok((sets, rest))
}

/// `${_PWD}`: the directory of `file` as an absolute path, as keepalived's (the working
/// directory it moves to before reading a file), whatever path `-f` gave.
fn file_dir(file: &Path) -> String {
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::canonicalize(dir)
        .or_else(|_| std::path::absolute(dir))
        .map_or_else(|_| dir.display().to_string(), |p| p.display().to_string())
}

/// `include`, `includer`, ... at the start of a line: (the kind, ' ' for plain, and the rest).
fn include_line(text: &str) -> Option<(char, &str)> {
    let rest = text.strip_prefix("include")?;
    let mut chars = rest.chars();
    match chars.next()? {
        ' ' | '\t' => Some((' ', rest.trim_start())),
        k @ ('r' | 'm' | 'w' | 'b' | 'a') if matches!(chars.next(), Some(' ' | '\t')) => {
            Some((k, rest[1..].trim_start()))
        }
        _ => None,
    }
}

/// glob's `GLOB_BRACE`: `a{b,c}d` is `abd` then `acd` (nested too).
pub fn expand_braces(pat: &str) -> Vec<String> {
    let Some(open) = pat.find('{') else { return vec![pat.to_string()] };
    let mut depth = 0;
    let mut close = None;
    let mut commas = Vec::new();
    for (i, c) in pat[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            ',' if depth == 1 => commas.push(open + i),
            _ => {}
        }
    }
    let Some(close) = close else { return vec![pat.to_string()] };
    let (head, tail) = (&pat[..open], &pat[close + 1..]);
    let mut bounds = vec![open];
    bounds.extend(&commas);
    bounds.push(close);
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let alt = &pat[w[0] + 1..w[1]];
        out.extend(expand_braces(&format!("{head}{alt}{tail}")));
    }
    out
}

#[cfg(test)]
mod tests;
