//! The instance tag syntax of the create-instance dialog (manual 7.3.2):
//! `instance#:tag` or `first#-last#:tag`, several separated by commas, e.g.
//! `1-5:php, 2-3:apache, 4-5:mysql, 1:haproxy`. Tags are single words handed to UDS scripts.

/// Why a tag specification was refused, with the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tag {part:?}: {reason}")]
pub struct TagSpecError {
    pub part: String,
    pub reason: String,
}

fn err(part: &str, reason: impl Into<String>) -> TagSpecError {
    TagSpecError { part: part.to_owned(), reason: reason.into() }
}

/// The tags of each of `count` instances (index 0 is instance 1), in the order given, without
/// duplicates. An empty specification gives every instance no tags.
pub fn parse_tag_spec(spec: &str, count: u32) -> Result<Vec<Vec<String>>, TagSpecError> {
    let mut tags: Vec<Vec<String>> = vec![Vec::new(); count as usize];
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (range, tag) = part.split_once(':').ok_or_else(|| err(part, "write it as N:tag or N-M:tag"))?;
        let (range, tag) = (range.trim(), tag.trim());
        if tag.is_empty() {
            return Err(err(part, "the tag is empty"));
        }
        if tag.len() > 64 || !tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
            return Err(err(part, "a tag is one word of letters, digits, '_', '-' or '.' (at most 64)"));
        }
        let number = |s: &str| -> Result<u32, TagSpecError> {
            s.trim().parse::<u32>().map_err(|_| err(part, format!("{:?} is not an instance number", s.trim())))
        };
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(range)?;
                (n, n)
            }
        };
        if first == 0 || last == 0 {
            return Err(err(part, "instances are numbered from 1"));
        }
        if first > last {
            return Err(err(part, format!("the range {first}-{last} runs backwards")));
        }
        if last > count {
            return Err(err(part, format!("there are only {count} instances")));
        }
        for i in first..=last {
            let list = &mut tags[(i - 1) as usize];
            if !list.iter().any(|t| t == tag) {
                list.push(tag.to_owned());
            }
        }
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manuals_example() {
        let t = parse_tag_spec("1-5:php, 2-3:apache, 4-5:mysql, 1:haproxy", 5).unwrap();
        assert_eq!(t[0], vec!["php", "haproxy"]);
        assert_eq!(t[1], vec!["php", "apache"]);
        assert_eq!(t[2], vec!["php", "apache"]);
        assert_eq!(t[3], vec!["php", "mysql"]);
        assert_eq!(t[4], vec!["php", "mysql"]);
    }

    #[test]
    fn empty_and_repeated() {
        assert_eq!(parse_tag_spec("", 2).unwrap(), vec![Vec::<String>::new(), vec![]]);
        assert_eq!(parse_tag_spec(" , ", 1).unwrap(), vec![Vec::<String>::new()]);
        assert_eq!(parse_tag_spec("1:web,1:web, 1-1:web", 1).unwrap(), vec![vec!["web".to_string()]]);
    }

    #[test]
    fn clear_refusals() {
        for (spec, words) in [
            ("web", "N:tag"),
            ("1:", "empty"),
            ("0:web", "from 1"),
            ("3-1:web", "backwards"),
            ("1-6:web", "only 5"),
            ("x:web", "not an instance number"),
            ("1:two words", "one word"),
            ("1-:web", "not an instance number"),
        ] {
            let e = parse_tag_spec(spec, 5).unwrap_err();
            assert!(e.to_string().contains(words), "{spec}: {e}");
        }
    }
}
