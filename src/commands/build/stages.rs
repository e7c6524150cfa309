//! Multi-stage builds: which stages run, decided before anything runs.
//!
//! Theory of operation: the instructions are cut into stages at each
//! `FROM`; a stage's name is its `AS NAME` word, lower-cased (docker's
//! stage names are case-insensitive), which must be a valid name and
//! unique in the file, as docker requires. A stage needs the earlier
//! stage its `FROM` names and those its `COPY --from` names (by name or
//! index); a `--from` that names the stage itself or a later one is
//! refused here, as is a `--target` no stage has. The target (`--target`,
//! else the last stage) and the stages it needs, followed transitively,
//! are built; the others are skipped, as docker's BuildKit does (podman
//! 4.3 runs them all). A `--from` whose value holds a variable cannot be
//! read before its stage runs: such a stage is taken to need every
//! earlier one, and its value is checked again ([`resolve`]) when the
//! step runs.

use super::parse::Instruction;
use rless::image::change;

/// The stages of a Containerfile and which of them a build runs.
#[derive(Debug)]
pub struct Plan {
    /// Each stage's `AS` name, lower-cased.
    pub names: Vec<Option<String>>,
    /// Each stage's instructions: the index of its FROM, and of the
    /// instruction after its last.
    pub spans: Vec<(usize, usize)>,
    /// The stage that becomes the image.
    pub target: usize,
    /// Whether each stage is built.
    pub needed: Vec<bool>,
}

/// Why a Containerfile's stages cannot be built (nothing ran).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StageError {
    #[error("target stage {0:?} could not be found")]
    NoTarget(String),
    #[error("{file}: line {line}: duplicate stage name {name:?}")]
    Duplicate {
        file: String,
        line: usize,
        name: String,
    },
    #[error("{file}: line {line}: invalid stage name {name:?}: it must start with a letter and hold only letters, digits, '-', '_' and '.'")]
    BadName {
        file: String,
        line: usize,
        name: String,
    },
    #[error("{file}: line {line}: {keyword} --from={from}: {why}")]
    From {
        file: String,
        line: usize,
        keyword: String,
        from: String,
        why: String,
    },
}

/// What a `COPY --from` value names, seen from stage `at`.
#[derive(Debug, PartialEq)]
pub enum Source {
    /// An earlier stage, by index.
    Stage(usize),
    /// Not a stage: an image.
    Image,
}

/// `what` (a `--from` value, variables expanded) read from stage `at`: a
/// stage name (any case) or index names a stage, anything else an image.
/// Naming stage `at` itself or a later one is refused: a stage copies
/// only from one that has ended.
pub fn resolve(names: &[Option<String>], at: usize, what: &str) -> Result<Source, String> {
    let lower = what.to_ascii_lowercase();
    let index = names
        .iter()
        .position(|n| n.as_deref() == Some(lower.as_str()))
        .or_else(|| what.parse::<usize>().ok());
    match index {
        Some(i) if i < at => Ok(Source::Stage(i)),
        Some(i) if i == at => Err(format!(
            "names this stage ({i}): a stage can copy only from an earlier one"
        )),
        Some(i) if i < names.len() => Err(format!(
            "names a later stage ({i}): a stage can copy only from an earlier one"
        )),
        Some(_) if lower.bytes().all(|b| b.is_ascii_digit()) => Err(format!(
            "there is no stage {what} before this one (stages count from 0)"
        )),
        _ => Ok(Source::Image),
    }
}

/// Docker's rule for stage names: `[a-z][a-z0-9-_.]*` once lower-cased.
fn valid_name(n: &str) -> bool {
    let mut b = n.bytes();
    b.next().is_some_and(|c| c.is_ascii_lowercase())
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-_.".contains(&c))
}

/// The stages of `all` (named `file` in errors), the build's `target` and
/// what it needs; `meta` is the ARG values the FROM lines see.
pub fn plan(
    file: &str,
    all: &[Instruction],
    meta: &[(String, String)],
    target: Option<&str>,
) -> Result<Plan, StageError> {
    let mut names: Vec<Option<String>> = Vec::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (k, ins) in all.iter().enumerate() {
        if ins.keyword != "FROM" {
            if let Some(s) = spans.last_mut() {
                s.1 = k + 1;
            }
            continue;
        }
        spans.push((k, k + 1));
        let words: Vec<&str> = ins.rest.split_whitespace().collect();
        let name = match words[..] {
            [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_ascii_lowercase()),
            _ => None,
        };
        if let Some(n) = &name {
            if !valid_name(n) {
                return Err(StageError::BadName {
                    file: file.into(),
                    line: ins.line,
                    name: words[2].into(),
                });
            }
            if names.iter().any(|o| o.as_ref() == Some(n)) {
                return Err(StageError::Duplicate {
                    file: file.into(),
                    line: ins.line,
                    name: n.clone(),
                });
            }
        }
        names.push(name);
    }
    // What each stage needs among the earlier ones.
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    for (at, &(start, end)) in spans.iter().enumerate() {
        let from = &all[start];
        if let Some(base) = change::split_words(&from.rest, meta)
            .ok()
            .and_then(|w| w.into_iter().next())
        {
            // As the build reads it: an earlier stage's name or index.
            let lower = base.to_ascii_lowercase();
            let earlier = names[..at]
                .iter()
                .position(|n| n.as_deref() == Some(lower.as_str()))
                .or_else(|| base.parse::<usize>().ok().filter(|i| *i < at));
            deps[at].extend(earlier);
        }
        for (ins, value) in all[start + 1..end].iter().flat_map(|i| {
            let mounts = super::mounts::from_values(i);
            i.flag("from")
                .map(str::to_string)
                .into_iter()
                .chain(mounts)
                .map(move |v| (i, v))
        }) {
            let value = value.as_str();
            if value.contains('$') {
                // Known only when the step runs (and checked then).
                deps[at].extend(0..at);
                continue;
            }
            let value = change::split_words(value, &[])
                .map(|w| w.concat())
                .unwrap_or_else(|_| value.to_string());
            match resolve(&names, at, &value) {
                Ok(Source::Stage(i)) => deps[at].push(i),
                Ok(Source::Image) => {}
                Err(why) => {
                    return Err(StageError::From {
                        file: file.into(),
                        line: ins.line,
                        keyword: ins.keyword.clone(),
                        from: value,
                        why,
                    })
                }
            }
        }
    }
    let target = match target {
        None => spans.len() - 1,
        Some(t) => {
            let lower = t.to_ascii_lowercase();
            names
                .iter()
                .position(|n| n.as_deref() == Some(lower.as_str()))
                .ok_or_else(|| StageError::NoTarget(t.to_string()))?
        }
    };
    let mut needed = vec![false; spans.len()];
    let mut todo = vec![target];
    while let Some(s) = todo.pop() {
        if !std::mem::replace(&mut needed[s], true) {
            todo.extend(deps[s].iter().copied());
        }
    }
    Ok(Plan {
        names,
        spans,
        target,
        needed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::build::parse::parse;

    fn plan_of(text: &str, target: Option<&str>) -> Result<Plan, StageError> {
        plan("F", &parse("F", text).unwrap(), &[], target)
    }

    #[test]
    fn target_and_needed_stages() {
        let text = "ARG X\nFROM a AS Base\nRUN x\nFROM base AS tool\nFROM b AS unused\nRUN y\n\
                    FROM c AS final\nCOPY --from=TOOL /t /t\nCOPY --from=img /i /i\n";
        let p = plan_of(text, None).unwrap();
        assert_eq!(
            p.names,
            [
                Some("base".into()),
                Some("tool".into()),
                Some("unused".into()),
                Some("final".into())
            ]
        );
        assert_eq!(p.spans, [(1, 3), (3, 4), (4, 6), (6, 9)]);
        assert_eq!(p.target, 3);
        assert_eq!(p.needed, [true, true, false, true]);
        let p = plan_of(text, Some("UNUSED")).unwrap();
        assert_eq!((p.target, p.needed), (2, vec![false, false, true, false]));
        let e = plan_of(text, Some("x")).unwrap_err();
        assert_eq!(e.to_string(), "target stage \"x\" could not be found");
        // An index is no target, as in docker.
        assert!(plan_of(text, Some("1")).is_err());
        // A variable: every earlier stage is needed.
        let p = plan_of("FROM a\nFROM b\nFROM c\nCOPY --from=$S /x /x\n", None).unwrap();
        assert_eq!(p.needed, [true, true, true]);
        let p = plan_of("FROM a\nFROM b\nFROM c\nCOPY --from=1 /x /x\n", None).unwrap();
        assert_eq!(p.needed, [false, true, true]);
    }

    #[test]
    fn refusals() {
        for (text, says) in [
            (
                "FROM a AS x\nFROM b AS X\n",
                "F: line 2: duplicate stage name \"x\"",
            ),
            (
                "FROM a AS 1x\n",
                "F: line 1: invalid stage name \"1x\": it must start with a letter",
            ),
            (
                "FROM a AS one\nFROM b\nCOPY --from=1 /a /a\n",
                "F: line 3: COPY --from=1: names this stage (1)",
            ),
            (
                "FROM a AS one\nCOPY --from=Two /a /a\nFROM b AS two\n",
                "F: line 2: COPY --from=Two: names a later stage (1)",
            ),
            (
                "FROM a AS one\nCOPY --from=one /a /a\n",
                "F: line 2: COPY --from=one: names this stage (0)",
            ),
            (
                "FROM a\nCOPY --from=7 /a /a\n",
                "F: line 2: COPY --from=7: there is no stage 7 before this one",
            ),
        ] {
            let e = plan_of(text, None).unwrap_err().to_string();
            assert!(e.starts_with(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn resolving() {
        let names = [Some("a".to_string()), None, Some("c".to_string())];
        assert_eq!(resolve(&names, 2, "A"), Ok(Source::Stage(0)));
        assert_eq!(resolve(&names, 2, "1"), Ok(Source::Stage(1)));
        assert_eq!(resolve(&names, 2, "busybox"), Ok(Source::Image));
        assert!(resolve(&names, 1, "c").is_err());
        assert!(resolve(&names, 2, "2").is_err());
    }
}
