//! kafka-python for the tests that hand brooklet's batches to an independent Kafka codec:
//! installed with pip when missing. If that fails the calling test fails when the `CI`
//! variable is set, and elsewhere is skipped with a loud message.

use std::io::Write as _;
use std::process::Command;
use std::sync::OnceLock;

fn importable() -> bool {
    Command::new("python3")
        .args([
            "-c",
            "import kafka.record.default_records, kafka.record.memory_records",
        ])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// True once kafka-python can be imported, installing it if needed; false (after a loud
/// message naming `test`) if it cannot be had outside CI.
pub fn kafka_python(test: &str) -> bool {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        if importable() {
            return Ok(());
        }
        eprintln!("{test}: kafka-python is missing; installing it with pip");
        let pip = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "kafka-python"])
            .output();
        if importable() {
            return Ok(());
        }
        Err(match pip {
            Ok(output) => format!(
                "pip install kafka-python failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(err) => format!("python3 could not be run: {err}"),
        })
    });
    let Err(why) = ready else {
        return true;
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} needs kafka-python under CI: {why}"
    );
    // Written to stderr directly: the test harness captures eprintln! of passing tests.
    let bar = "!".repeat(72);
    let message = format!("\n{bar}\nSKIPPING the {test} test: {why}\n{bar}\n");
    let _ = std::io::stderr().lock().write_all(message.as_bytes());
    false
}
