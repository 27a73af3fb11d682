//! The README's section "Using brooklet from C" shows examples/c/example.c, which CI
//! compiles and runs; this test keeps the two the same text.

#[test]
fn the_readme_shows_examples_c_example_c() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let example = std::fs::read_to_string(root.join("examples/c/example.c")).expect("example.c");
    let section = readme
        .split("## Using brooklet from C")
        .nth(1)
        .expect("the README has a section \"Using brooklet from C\"");
    let block = section
        .split("```c\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the section has a ```c block");
    assert!(
        block.trim_end() == example.trim_end(),
        "the README's C example differs from examples/c/example.c; copy the file into the \
         README's ```c block"
    );
}
