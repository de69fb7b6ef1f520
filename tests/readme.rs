//! The README documents every setting the crate knows, so users can trust its tables.

use mmdagent_remote::known_keys;

#[test]
fn readme_documents_every_known_key_with_its_default() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let missing: Vec<&str> = known_keys()
        .map(|help| help.name)
        .filter(|name| !readme.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md does not document {missing:?}"
    );
}
