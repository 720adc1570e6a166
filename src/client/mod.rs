//! Everything that speaks the Kafka protocol, in one tree below the commands:
//! connections with deadlines, TLS and SASL, topic administration, producing, fetching,
//! offsets, and consumer groups; and Kafka Connect's REST API (connect.rs). It never prints and never sees the command
//! line; commands depend on it, never the reverse (docs/architecture.md).

pub mod admin;
pub mod answer_check;
pub mod assignor;
pub mod brokers;
pub mod classic;
pub mod cluster;
pub mod codes;
pub mod connect;
pub mod connection;
pub mod coordinator;
pub mod deadline;
pub mod fetch;
pub mod list_offsets;
pub mod manage;
pub mod member;
pub mod modern;
pub mod observe;
pub mod produce;
pub mod retry;
pub mod security;
pub mod transaction;
pub mod txn_state;
pub mod versions;
pub mod wire;

/// Checks over the source tree: the layering rules above, enforced.
#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    /// Every module of the crate (`client::security::sasl`) and its file's
    /// text without its tests and comments.
    fn modules() -> BTreeMap<String, String> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        walk(&src, &mut files);
        files
            .into_iter()
            .filter_map(|path| {
                let rel = path.strip_prefix(&src).unwrap().with_extension("");
                let mut segs: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if segs.last().is_some_and(|s| s == "mod") {
                    segs.pop();
                }
                if segs == ["main"] {
                    return None;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                let code: String = code
                    .lines()
                    .map(|l| l.split("//").next().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("\n");
                Some((segs.join("::"), code))
            })
            .collect()
    }

    /// The lower-case paths after each `prefix` (`crate::`, `super::`),
    /// groups (`{a, b::c}`) expanded one level.
    fn paths(code: &str, prefix: &str) -> Vec<Vec<String>> {
        fn ident(s: &str) -> (&str, &str) {
            let end = s
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(s.len());
            s.split_at(end)
        }
        fn path(mut s: &str) -> (Vec<String>, &str) {
            let mut segs = Vec::new();
            loop {
                let (id, rest) = ident(s.trim_start());
                if id.is_empty() || !id.starts_with(|c: char| c.is_ascii_lowercase()) {
                    return (segs, rest);
                }
                segs.push(id.to_string());
                match rest.strip_prefix("::") {
                    Some(more) => s = more,
                    None => return (segs, rest),
                }
            }
        }
        let mut out = Vec::new();
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[at + prefix.len()..];
            let (base, after) = path(rest);
            match after.trim_start().strip_prefix('{') {
                Some(group) => {
                    let group = &group[..group.find('}').unwrap_or(group.len())];
                    for item in group.split(',') {
                        let (more, _) = path(item);
                        out.push(base.iter().cloned().chain(more).collect());
                    }
                }
                None => out.push(base),
            }
        }
        out
    }

    #[test]
    fn no_module_depends_on_itself_through_others() {
        let modules = modules();
        let resolve = |segs: &[String]| {
            (1..=segs.len())
                .rev()
                .map(|n| segs[..n].join("::"))
                .find(|m| modules.contains_key(m))
        };
        let mut edges: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for (module, code) in &modules {
            let parent: Vec<String> = module.split("::").map(String::from).collect();
            let parent = &parent[..parent.len() - 1];
            let targets = edges.entry(module).or_default();
            for segs in paths(code, "crate::") {
                targets.extend(resolve(&segs));
            }
            for segs in paths(code, "super::") {
                let full: Vec<String> = parent.iter().cloned().chain(segs).collect();
                targets.extend(resolve(&full));
            }
            targets.remove(module);
        }
        // Depth-first search; a module met again while still open closes a cycle.
        fn visit<'a>(
            m: &'a str,
            edges: &'a BTreeMap<&str, BTreeSet<String>>,
            open: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) -> Option<Vec<&'a str>> {
            if let Some(i) = open.iter().position(|&o| o == m) {
                let mut cycle = open[i..].to_vec();
                cycle.push(m);
                return Some(cycle);
            }
            if !done.insert(m) {
                return None;
            }
            open.push(m);
            for next in edges.get(m).into_iter().flatten() {
                if let Some(cycle) = visit(next, edges, open, done) {
                    return Some(cycle);
                }
            }
            open.pop();
            None
        }
        let mut done = BTreeSet::new();
        for &m in edges.keys() {
            let cycle = visit(m, &edges, &mut Vec::new(), &mut done);
            assert!(
                cycle.is_none(),
                "a dependency cycle: {}",
                cycle.unwrap().join(" -> ")
            );
        }
        // The check sees the edges it should.
        assert!(edges["client::cluster"].contains("client::connection"));
        assert!(edges["client::connection"].contains("client::security::sasl"));
    }

    #[test]
    fn the_client_layer_names_no_command() {
        for (module, code) in modules() {
            if !module.starts_with("client") {
                continue;
            }
            for needle in ["`kafkademo ", "make ", "--protocol", "--group", "--timeout"] {
                assert!(
                    !code.contains(needle),
                    "src/{} says {needle:?}: its wording belongs in error::hints",
                    module.replace("::", "/")
                );
            }
        }
    }
}
