//! Stream permissions from the token's `tether` claim: lists of `/`-separated patterns where `*`
//! matches exactly one segment, `**` any number of segments (zero or more), and any other
//! segment matches literally.

use std::fmt;

use tether_protocol::StreamName;

/// Most patterns per list a token may carry; matching cost grows with it.
pub const MAX_PATTERNS: usize = 256;
/// Longest pattern. Stream names are at most 256 bytes, so a longer pattern cannot be useful.
pub const MAX_PATTERN_BYTES: usize = 512;

/// Why a permission pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("pattern {0:?} is empty or has an empty segment")]
    EmptySegment(String),
    #[error("pattern is {0} bytes; the limit is {MAX_PATTERN_BYTES}")]
    TooLong(usize),
    #[error("{0} patterns; the limit is {MAX_PATTERNS} per list")]
    TooMany(usize),
    #[error("pattern {pattern:?} contains {found:?}; stream names allow A-Z a-z 0-9 . _ ~ : -")]
    BadChar { pattern: String, found: char },
    #[error("pattern {0:?}: '*' and '**' must be whole segments (\"a/*\", not \"a*\")")]
    PartialWildcard(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Lit(String),
    /// `*`: exactly one segment.
    One,
    /// `**`: zero or more segments.
    Any,
}

/// One parsed pattern. Invariant: no two `Any` segments are adjacent (`**/**` means `**`).
#[derive(Clone, PartialEq, Eq)]
struct Pattern {
    raw: String,
    segs: Vec<Seg>,
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.raw, f)
    }
}

impl Pattern {
    fn parse(raw: &str) -> Result<Pattern, PatternError> {
        if raw.len() > MAX_PATTERN_BYTES {
            return Err(PatternError::TooLong(raw.len()));
        }
        let mut segs: Vec<Seg> = Vec::new();
        for s in raw.split('/') {
            let seg = match s {
                "" => return Err(PatternError::EmptySegment(raw.to_owned())),
                "*" => Seg::One,
                "**" => Seg::Any,
                lit if lit.contains('*') => return Err(PatternError::PartialWildcard(raw.to_owned())),
                lit => {
                    if let Some(found) = lit.chars().find(|c| !is_name_char(*c)) {
                        return Err(PatternError::BadChar { pattern: raw.to_owned(), found });
                    }
                    Seg::Lit(lit.to_owned())
                }
            };
            if !(seg == Seg::Any && segs.last() == Some(&Seg::Any)) {
                segs.push(seg);
            }
        }
        Ok(Pattern { raw: raw.to_owned(), segs })
    }

    /// Whether the pattern matches the name split into segments. Dynamic programming over
    /// segments, O(pattern × name): a token cannot make matching exponential with many `**`.
    fn matches(&self, name: &[&str]) -> bool {
        // reach[j]: the pattern segments seen so far can consume exactly name[..j].
        let mut reach = vec![false; name.len() + 1];
        reach[0] = true;
        for seg in &self.segs {
            match seg {
                Seg::Any => {
                    let mut seen = false;
                    for r in reach.iter_mut() {
                        seen |= *r;
                        *r = seen;
                    }
                }
                Seg::One | Seg::Lit(_) => {
                    for j in (1..=name.len()).rev() {
                        reach[j] = reach[j - 1] && seg_fits(seg, name[j - 1]);
                    }
                    reach[0] = false;
                }
            }
        }
        reach[name.len()]
    }
}

fn seg_fits(seg: &Seg, name_seg: &str) -> bool {
    match seg {
        Seg::Lit(l) => l == name_seg,
        Seg::One | Seg::Any => true,
    }
}

/// The characters of a stream-name segment (see `StreamName`).
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | ':' | '-')
}

/// What a token allows: the streams it may read and those it may write. The default allows nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    read: Vec<Pattern>,
    write: Vec<Pattern>,
}

impl Permissions {
    /// Parses both pattern lists; any invalid pattern refuses the whole set.
    pub fn new(read: &[String], write: &[String]) -> Result<Permissions, PatternError> {
        Ok(Permissions { read: parse_list(read)?, write: parse_list(write)? })
    }

    /// Read and write everything: `**` (the dev anonymous policy).
    pub fn all() -> Permissions {
        let any = vec![Pattern { raw: "**".to_owned(), segs: vec![Seg::Any] }];
        Permissions { read: any.clone(), write: any }
    }

    pub fn can_read(&self, stream: &StreamName) -> bool {
        any_matches(&self.read, stream)
    }

    pub fn can_write(&self, stream: &StreamName) -> bool {
        any_matches(&self.write, stream)
    }
}

fn parse_list(raw: &[String]) -> Result<Vec<Pattern>, PatternError> {
    if raw.len() > MAX_PATTERNS {
        return Err(PatternError::TooMany(raw.len()));
    }
    raw.iter().map(|p| Pattern::parse(p)).collect()
}

fn any_matches(patterns: &[Pattern], stream: &StreamName) -> bool {
    if patterns.is_empty() {
        return false;
    }
    let segs: Vec<&str> = stream.as_str().split('/').collect();
    patterns.iter().any(|p| p.matches(&segs))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        let perms = Permissions::new(&[pattern.to_owned()], &[]).expect("valid pattern");
        perms.can_read(&StreamName::parse(name).expect("valid name"))
    }

    #[test]
    fn pattern_table() {
        let table: &[(&str, &str, bool)] = &[
            ("chat/1", "chat/1", true),
            ("chat/1", "chat/10", false),
            ("chat/1", "chat", false),
            ("chat/*", "chat/1", true),
            ("chat/*", "chat/1/2", false),
            ("chat/*", "chat", false),
            ("*", "a", true),
            ("*", "a/b", false),
            ("*/x/*", "q/x/r", true),
            ("*/x/*", "q/y/r", false),
            ("**", "a", true),
            ("**", "a/b/c", true),
            ("chat/**", "chat", true),
            ("chat/**", "chat/a/b/c", true),
            ("chat/**", "chatroom/a", false),
            ("**/tail", "tail", true),
            ("**/tail", "a/b/tail", true),
            ("**/tail", "a/tail/b", false),
            ("a/**/z", "a/z", true),
            ("a/**/z", "a/b/c/z", true),
            ("a/**/z", "a/b/c", false),
            ("a/**/*/z", "a/z", false),
            ("a/**/*/z", "a/b/z", true),
            ("**/**/x/**", "x", true),
            ("**/b/**/d", "a/b/c/d", true),
            ("**/b/**/d", "a/c/d", false),
        ];
        for (pattern, name, want) in table {
            assert_eq!(m(pattern, name), *want, "{pattern} vs {name}");
        }
    }

    #[test]
    fn invalid_patterns_are_refused() {
        let bad = |p: &str| Permissions::new(&[], &[p.to_owned()]).expect_err(p);
        assert!(matches!(bad(""), PatternError::EmptySegment(_)));
        assert!(matches!(bad("a//b"), PatternError::EmptySegment(_)));
        assert!(matches!(bad("/a"), PatternError::EmptySegment(_)));
        assert!(matches!(bad("a/"), PatternError::EmptySegment(_)));
        assert!(matches!(bad("chat-*"), PatternError::PartialWildcard(_)));
        assert!(matches!(bad("a/***"), PatternError::PartialWildcard(_)));
        assert!(matches!(bad("a b"), PatternError::BadChar { found: ' ', .. }));
        assert!(matches!(bad(&"a".repeat(MAX_PATTERN_BYTES + 1)), PatternError::TooLong(_)));
        let many = vec!["a".to_owned(); MAX_PATTERNS + 1];
        assert!(matches!(Permissions::new(&many, &[]), Err(PatternError::TooMany(_))));
    }

    #[test]
    fn read_and_write_are_separate_and_default_allows_nothing() {
        let p = Permissions::new(&["r/*".to_owned()], &["w/*".to_owned()]).expect("valid");
        let r = StreamName::parse("r/1").expect("name");
        let w = StreamName::parse("w/1").expect("name");
        assert!(p.can_read(&r) && !p.can_write(&r));
        assert!(p.can_write(&w) && !p.can_read(&w));
        assert!(!Permissions::default().can_read(&r) && !Permissions::default().can_write(&w));
        assert!(Permissions::all().can_read(&r) && Permissions::all().can_write(&w));
    }

    #[test]
    fn many_double_stars_stay_fast() {
        // A naive backtracking matcher takes ~n^k steps here; the table-based one is linear.
        let pattern = vec!["**"; 40].join("/x/") + "/y";
        let name = vec!["x"; 60].join("/");
        assert!(!m(&pattern, &name));
    }

    const SEG: &str = "[a-c0-9]{1,3}";

    fn name() -> impl Strategy<Value = String> {
        prop::collection::vec(SEG, 1..6).prop_map(|s| s.join("/"))
    }

    /// Reference semantics: plain recursion (exponential, fine for short inputs).
    fn reference(pat: &[&str], name: &[&str]) -> bool {
        match pat.split_first() {
            None => name.is_empty(),
            Some((&"**", rest)) => (0..=name.len()).any(|skip| reference(rest, &name[skip..])),
            Some((seg, rest)) => {
                name.split_first().is_some_and(|(first, tail)| (*seg == "*" || seg == first) && reference(rest, tail))
            }
        }
    }

    proptest! {
        #[test]
        fn literal_patterns_match_exactly_themselves(a in name(), b in name()) {
            prop_assert!(m(&a, &a));
            prop_assert_eq!(m(&a, &b), a == b);
        }

        #[test]
        fn double_star_matches_everything(a in name()) {
            prop_assert!(m("**", &a));
        }

        #[test]
        fn single_stars_match_by_segment_count(a in name(), b in name()) {
            let stars = vec!["*"; a.split('/').count()].join("/");
            prop_assert_eq!(m(&stars, &b), a.split('/').count() == b.split('/').count());
            let prefixed = format!("{}/*", a.split('/').next().expect("one segment"));
            prop_assert!(!m(&prefixed, &b) || b.split('/').count() == 2);
        }

        #[test]
        fn matcher_agrees_with_the_reference(
            pat in prop::collection::vec(prop_oneof![Just("*".to_owned()), Just("**".to_owned()), SEG], 1..6),
            b in name(),
        ) {
            let joined = pat.join("/");
            let pat_refs: Vec<&str> = pat.iter().map(String::as_str).collect();
            let name_segs: Vec<&str> = b.split('/').collect();
            prop_assert_eq!(m(&joined, &b), reference(&pat_refs, &name_segs));
        }
    }
}
