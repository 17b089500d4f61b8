//! The README's promises about the sample, checked against what ships: its
//! example definition is the shipped `linux-release`, and its serve example
//! starts every service a built-in definition needs.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

/// The first ```toml block after `heading`.
fn toml_block_after(text: &str, heading: &str) -> String {
    let at = text
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?}"));
    let rest = &text[at..];
    let start = rest.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = rest[start..].find("```").expect("the block's end");
    rest[start..start + end].to_string()
}

#[test]
fn the_readme_example_definition_is_the_shipped_file() {
    let shown = toml_block_after(&readme(), "## Definitions are graphs");
    let shipped = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("definitions/linux-release.toml"),
    )
    .expect("the shipped definition");
    assert_eq!(
        shown, shipped,
        "README's example differs from definitions/linux-release.toml"
    );
}

#[test]
fn the_readme_serve_example_starts_every_service() {
    let text = readme();
    let at = text
        .find("## Running the services separately")
        .expect("the serve section");
    let block = &text[at..];
    let block = &block[..block.find("```\n\n").expect("the block's end")];
    for service in ["default", "linux-pool", "windows-pool", "deployment"] {
        assert!(
            block.contains(&format!("serve --service {service}")),
            "the serve example leaves out {service}, so `full-release` fails:\n{block}"
        );
    }
}
