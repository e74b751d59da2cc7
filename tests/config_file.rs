//! The repository's `config.toml` documents every key with exactly the built-in defaults.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::collections::HashMap;

use atlhyper_master::config::{Settings, KEYS};

fn repo_config() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml");
    match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => panic!("cannot read {path}: {e}"),
    }
}

#[test]
fn repo_config_toml_equals_the_defaults() {
    let text = repo_config();
    let loaded = match Settings::from_sources(Some(("config.toml", &text)), &HashMap::new()) {
        Ok(settings) => settings,
        Err(e) => panic!("config.toml does not load: {e}"),
    };
    // Field by field: the pretty Debug output has one line per field (secrets print as
    // redacted, so an unset secret differs from a set one).
    let loaded = format!("{loaded:#?}");
    let defaults = format!("{:#?}", Settings::default());
    for (line, (got, want)) in loaded.lines().zip(defaults.lines()).enumerate() {
        assert_eq!(
            got, want,
            "config.toml differs from the defaults at line {line}"
        );
    }
    assert_eq!(loaded.lines().count(), defaults.lines().count());
}

#[test]
fn repo_config_toml_documents_every_key() {
    let text = repo_config();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for doc in KEYS {
        let expected = if doc.default.is_empty() {
            format!("# {} = \"\"", doc.key)
        } else {
            format!("{} = {}", doc.key, doc.default)
        };
        let Some(at) = lines.iter().position(|line| *line == expected) else {
            panic!("config.toml lacks the line `{expected}`");
        };
        // The comment just above names the meaning and every environment variable.
        let comment = at.checked_sub(1).map_or("", |above| lines[above]);
        assert!(comment.starts_with('#'), "no comment above `{expected}`");
        for var in std::iter::once(&doc.env).chain(doc.aliases) {
            assert!(
                comment.contains(var),
                "comment above `{expected}` lacks {var}"
            );
        }
        assert!(
            comment.contains(doc.meaning),
            "comment above `{expected}` lacks its meaning"
        );
    }
}

#[test]
fn readme_configuration_table_lists_every_key() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for doc in KEYS {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", doc.key)))
            .unwrap_or_else(|| panic!("README.md has no configuration row for `{}`", doc.key));
        assert!(
            row.contains(doc.env),
            "README row of `{}` lacks {}",
            doc.key,
            doc.env
        );
        let default = if doc.default.is_empty() {
            "unset"
        } else {
            doc.default.trim_matches('"')
        };
        assert!(
            row.contains(&format!("`{default}`")),
            "README row of `{}` lacks its default {default}",
            doc.key
        );
    }
}
