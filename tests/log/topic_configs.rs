//! Topic configs through the library: `create_topic` checks a config built field by field
//! with the same validator as the CLI and `alter_topic_config`, and a refused create or
//! alter changes nothing.

use brooklet::{Brooklet, CleanupPolicy, Error, TopicConfig};

#[test]
fn create_topic_refuses_a_config_built_as_a_struct_that_the_cli_would_refuse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.brooklet");
    let db = Brooklet::open(&path).expect("open");
    db.admin()
        .create_topic("kept", 1, TopicConfig::default())
        .expect("create");
    let before = std::fs::read(&path).expect("read");
    let bad = [
        (
            TopicConfig {
                segment_bytes: 100,
                ..TopicConfig::default()
            },
            "segment.bytes",
        ),
        (
            TopicConfig {
                segment_bytes: u32::MAX,
                ..TopicConfig::default()
            },
            "segment.bytes",
        ),
        (
            TopicConfig {
                max_message_bytes: 0,
                ..TopicConfig::default()
            },
            "max.message.bytes",
        ),
        (
            TopicConfig {
                max_message_bytes: u32::MAX,
                ..TopicConfig::default()
            },
            "max.message.bytes",
        ),
        (
            TopicConfig {
                retention_ms: Some(u64::MAX),
                ..TopicConfig::default()
            },
            "retention.ms",
        ),
        (
            TopicConfig {
                retention_bytes: Some(1 << 63),
                ..TopicConfig::default()
            },
            "retention.bytes",
        ),
        (
            TopicConfig {
                delete_retention_ms: u64::MAX,
                ..TopicConfig::default()
            },
            "delete.retention.ms",
        ),
        (
            TopicConfig {
                min_compaction_lag_ms: u64::MAX,
                ..TopicConfig::default()
            },
            "min.compaction.lag.ms",
        ),
    ];
    for (config, key) in bad {
        let err = db
            .admin()
            .create_topic("new", 1, config.clone())
            .expect_err("refused");
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(key), "{key}: {message}");
        let allowed = TopicConfig::allowed_values(key).expect("known key");
        assert!(message.contains(&allowed), "{allowed}: {message}");
        assert!(!message.contains('\n'), "{message}");
        assert_eq!(
            config.validate().expect_err("invalid").to_string(),
            message,
            "one validator"
        );
    }
    let zero = db.admin().create_topic("new", 0, TopicConfig::default());
    assert!(matches!(zero, Err(Error::InvalidArgument(_))), "{zero:?}");
    let names: Vec<String> = db
        .admin()
        .topics()
        .expect("topics")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["kept"], "no topic half made");
    drop(db);
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "nothing written"
    );
}

#[test]
fn alter_topic_config_refuses_duplicates_and_bad_values_all_or_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Brooklet::open(dir.path().join("t.brooklet")).expect("open");
    db.admin()
        .create_topic("t", 1, TopicConfig::default())
        .expect("create");
    let before = db.admin().describe_topic("t").expect("describe").config;
    for pairs in [
        &[("cleanup.policy", "compact,compact")][..],
        &[("cleanup.policy", "compact"), ("cleanup.policy", "delete")],
        &[("retention.ms", "1000"), ("segment.bytes", "0")],
        &[("retention.bytes", "-3")],
        &[("no.such.key", "1")],
    ] {
        let err = db
            .admin()
            .alter_topic_config("t", pairs)
            .expect_err("refused");
        assert!(
            matches!(err, Error::InvalidArgument(_)),
            "{pairs:?}: {err:?}"
        );
        assert_eq!(
            db.admin().describe_topic("t").expect("describe").config,
            before
        );
    }
    let altered = db
        .admin()
        .alter_topic_config("t", &[("cleanup.policy", " delete , compact ")])
        .expect("alter");
    assert_eq!(altered.cleanup_policy, CleanupPolicy::CompactDelete);
}
