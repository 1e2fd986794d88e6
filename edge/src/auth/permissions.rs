//! Stream-name patterns from the token's `tether` claim: `*` matches exactly one `/`-separated
//! segment, `**` any number of segments (zero or more), anything else matches literally.

use tether_protocol::StreamName;

/// Most patterns per list, and longest pattern, a token may carry.
const MAX_PATTERNS: usize = 256;
const MAX_PATTERN_BYTES: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("pattern {0:?} is empty or has an empty segment")]
    Empty(String),
    #[error("pattern is longer than {MAX_PATTERN_BYTES} bytes")]
    TooLong,
    #[error("more than {MAX_PATTERNS} patterns")]
    TooMany,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Lit(String),
    One,
    Any,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern(Vec<Seg>);

impl Pattern {
    pub fn parse(raw: &str) -> Result<Self, PatternError> {
        if raw.len() > MAX_PATTERN_BYTES {
            return Err(PatternError::TooLong);
        }
        if raw.is_empty() || raw.split('/').any(str::is_empty) {
            return Err(PatternError::Empty(raw.to_owned()));
        }
        Ok(Self(
            raw.split('/')
                .map(|s| match s {
                    "*" => Seg::One,
                    "**" => Seg::Any,
                    lit => Seg::Lit(lit.to_owned()),
                })
                .collect(),
        ))
    }

    pub fn matches(&self, name: &str) -> bool {
        let segs: Vec<&str> = name.split('/').collect();
        matches_from(&self.0, &segs)
    }
}

fn matches_from(pat: &[Seg], name: &[&str]) -> bool {
    match pat.split_first() {
        None => name.is_empty(),
        Some((Seg::Any, rest)) => (0..=name.len()).any(|skip| matches_from(rest, &name[skip..])),
        Some((seg, rest)) => match name.split_first() {
            None => false,
            Some((first, tail)) => {
                let ok = match seg {
                    Seg::One => true,
                    Seg::Lit(l) => l == first,
                    Seg::Any => unreachable!("handled above"),
                };
                ok && matches_from(rest, tail)
            }
        },
    }
}

/// What a token allows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    read: Vec<Pattern>,
    write: Vec<Pattern>,
}

impl Permissions {
    pub fn new(read: &[String], write: &[String]) -> Result<Permissions, PatternError> {
        if read.len() > MAX_PATTERNS || write.len() > MAX_PATTERNS {
            return Err(PatternError::TooMany);
        }
        let parse = |v: &[String]| v.iter().map(|p| Pattern::parse(p)).collect::<Result<Vec<_>, _>>();
        Ok(Self { read: parse(read)?, write: parse(write)? })
    }

    /// Read and write everything (the dev anonymous policy).
    pub fn all() -> Permissions {
        let any = vec![Pattern(vec![Seg::Any])];
        Self { read: any.clone(), write: any }
    }

    pub fn can_read(&self, stream: &StreamName) -> bool {
        self.read.iter().any(|p| p.matches(stream.as_str()))
    }

    pub fn can_write(&self, stream: &StreamName) -> bool {
        self.write.iter().any(|p| p.matches(stream.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn m(p: &str, n: &str) -> bool {
        Pattern::parse(p).expect("valid").matches(n)
    }

    #[test]
    fn wildcards() {
        assert!(m("chat/*", "chat/1"));
        assert!(!m("chat/*", "chat/1/2"));
        assert!(!m("chat/*", "chat"));
        assert!(m("chat/**", "chat"));
        assert!(m("chat/**", "chat/a/b/c"));
        assert!(m("**/tail", "a/b/tail"));
        assert!(m("a/**/z", "a/z"));
        assert!(m("a/**/z", "a/b/c/z"));
        assert!(!m("a/**/z", "a/b/c"));
        assert!(m("*/x/*", "q/x/r"));
        assert!(!m("chat/1", "chat/10"));
        assert!(Pattern::parse("a//b").is_err());
        assert!(Pattern::parse("").is_err());
    }

    proptest! {
        #[test]
        fn literal_patterns_match_themselves_and_any_matches_all(name in "[a-z0-9]{1,6}(/[a-z0-9]{1,6}){0,4}", other in "[a-z0-9]{1,6}(/[a-z0-9]{1,6}){0,4}") {
            prop_assert!(m(&name, &name));
            prop_assert!(m("**", &name));
            prop_assert_eq!(m(&name, &other), name == other);
            let star: String = name.split('/').map(|_| "*").collect::<Vec<_>>().join("/");
            prop_assert!(m(&star, &name));
            prop_assert_eq!(m(&star, &other), name.split('/').count() == other.split('/').count());
        }
    }
}
