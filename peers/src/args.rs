//! Command-line flags: workload sizes, `--quick`, the `--peers` filter and `--dir`.

use std::path::PathBuf;

/// The subjects compared with the raw-file ceiling (which is always measured).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Brooklet,
    Sqlite,
    Redb,
    Fjall,
    Kafko,
}

impl Kind {
    /// Every subject, in table order.
    pub const ALL: [Kind; 5] = [
        Kind::Brooklet,
        Kind::Sqlite,
        Kind::Redb,
        Kind::Fjall,
        Kind::Kafko,
    ];

    /// The name used in `--peers` and in the table.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Kind::Brooklet => "brooklet",
            Kind::Sqlite => "rusqlite",
            Kind::Redb => "redb",
            Kind::Fjall => "fjall",
            Kind::Kafko => "kafko",
        }
    }

    fn parse(name: &str) -> Option<Kind> {
        match name {
            "sqlite" => Some(Kind::Sqlite),
            _ => Kind::ALL.into_iter().find(|k| k.name() == name),
        }
    }
}

/// How much work each workload does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Records of the bulk append (and of the sequential read that follows it).
    pub records: u64,
    /// Records per commit of the bulk append.
    pub batch: u64,
    /// Durable 1-record commits.
    pub commits_1: u64,
    /// Durable 100-record commits.
    pub commits_100: u64,
    /// Group-offset commits without a sync.
    pub offsets: u64,
    /// Durable group-offset commits.
    pub offsets_durable: u64,
    /// Rounds of retention churn.
    pub churn_rounds: u64,
    /// Records appended (and as many deleted) per churn round; also the retained window.
    pub churn_records: u64,
    /// Durable 1-record sends per thread per round of the thread comparison.
    pub thread_sends: u64,
    /// Rounds of the thread comparison (one thread, then all threads, in turn).
    pub thread_rounds: u64,
    /// Passes of the sequential read (the median is reported).
    pub read_passes: u64,
}

impl Sizes {
    /// The full run: the sizes the targets are stated for.
    #[must_use]
    pub fn full() -> Self {
        Self {
            records: 1_000_000,
            batch: 1000,
            commits_1: 2000,
            commits_100: 200,
            offsets: 10_000,
            offsets_durable: 1000,
            churn_rounds: 10,
            churn_records: 100_000,
            thread_sends: 50,
            thread_rounds: 10,
            read_passes: 3,
        }
    }

    /// A smoke run: every workload and subject, in seconds.
    #[must_use]
    pub fn quick() -> Self {
        Self {
            records: 20_000,
            batch: 1000,
            commits_1: 100,
            commits_100: 20,
            offsets: 200,
            offsets_durable: 50,
            churn_rounds: 3,
            churn_records: 5000,
            thread_sends: 10,
            thread_rounds: 2,
            read_passes: 1,
        }
    }
}

/// What to run, from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub sizes: Sizes,
    pub kinds: Vec<Kind>,
    /// Where the temporary directory goes; default the current directory.
    pub dir: Option<PathBuf>,
    pub quick: bool,
}

pub const USAGE: &str = "\
brooklet-peers: brooklet, rusqlite, redb, fjall and kafko on the same event-log workloads,
each next to a raw append-only file (write + fdatasync) as the physical ceiling.

usage: brooklet-peers [--quick] [--peers LIST] [--dir DIR] [SIZE FLAGS]

  --quick               small sizes: a smoke run of every workload (seconds)
  --peers LIST          comma-separated subset of brooklet,rusqlite,redb,fjall,kafko
                        (the raw ceiling always runs)
  --dir DIR             where the temporary directory goes (default: the current
                        directory; it must be on the disk to measure, not tmpfs)
  --records N           bulk append and sequential read (default 1000000)
  --batch N             records per bulk commit (default 1000)
  --commits-1 N         durable 1-record commits (default 2000)
  --commits-100 N       durable 100-record commits (default 200)
  --offsets N           group-offset commits without sync (default 10000)
  --offsets-durable N   durable group-offset commits (default 1000)
  --churn-rounds N      retention churn rounds (default 10)
  --churn-records N     records appended and deleted per churn round (default 100000)
  --thread-sends N      durable sends per thread per round (default 50)
  --thread-rounds N     rounds of 1 thread vs 8 threads (default 10)
  --read-passes N       passes of the sequential read, median reported (default 3)
";

/// Parses the flags (without the program name). `Err` holds a message for the user.
pub fn parse(args: &[String]) -> Result<Config, String> {
    let quick = args.iter().any(|a| a == "--quick");
    let mut config = Config {
        sizes: if quick { Sizes::quick() } else { Sizes::full() },
        kinds: Kind::ALL.to_vec(),
        dir: None,
        quick,
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        if flag == "--quick" {
            continue;
        }
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = rest
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))?;
        match flag.as_str() {
            "--peers" => config.kinds = parse_kinds(value)?,
            "--dir" => config.dir = Some(PathBuf::from(value)),
            _ => {
                let n = parse_count(flag, value)?;
                *count_field(&mut config.sizes, flag)
                    .ok_or_else(|| format!("unknown flag {flag:?}\n\n{USAGE}"))? = n;
            }
        }
    }
    Ok(config)
}

fn count_field<'a>(sizes: &'a mut Sizes, flag: &str) -> Option<&'a mut u64> {
    Some(match flag {
        "--records" => &mut sizes.records,
        "--batch" => &mut sizes.batch,
        "--commits-1" => &mut sizes.commits_1,
        "--commits-100" => &mut sizes.commits_100,
        "--offsets" => &mut sizes.offsets,
        "--offsets-durable" => &mut sizes.offsets_durable,
        "--churn-rounds" => &mut sizes.churn_rounds,
        "--churn-records" => &mut sizes.churn_records,
        "--thread-sends" => &mut sizes.thread_sends,
        "--thread-rounds" => &mut sizes.thread_rounds,
        "--read-passes" => &mut sizes.read_passes,
        _ => return None,
    })
}

fn parse_count(flag: &str, value: &str) -> Result<u64, String> {
    match value.replace('_', "").parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag} needs a positive count, got {value:?}")),
    }
}

fn parse_kinds(list: &str) -> Result<Vec<Kind>, String> {
    let mut kinds = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name == "raw" {
            continue; // the ceiling always runs
        }
        let kind = Kind::parse(name).ok_or_else(|| {
            format!("unknown peer {name:?}: choose from brooklet,rusqlite,redb,fjall,kafko")
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if kinds.is_empty() {
        return Err("--peers names no subject".to_owned());
    }
    kinds.sort_unstable();
    Ok(kinds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn defaults_are_the_full_run() {
        let config = parse(&[]).expect("no flags");
        assert_eq!(config.sizes, Sizes::full());
        assert_eq!(config.kinds, Kind::ALL.to_vec());
        assert!(!config.quick);
    }

    #[test]
    fn quick_then_overrides_in_any_order() {
        let config = parse(&args(&[
            "--records",
            "5_000",
            "--quick",
            "--peers",
            "kafko,sqlite,raw",
        ]))
        .expect("valid flags");
        assert!(config.quick);
        assert_eq!(config.sizes.records, 5000);
        assert_eq!(config.sizes.commits_1, Sizes::quick().commits_1);
        assert_eq!(config.kinds, vec![Kind::Sqlite, Kind::Kafko]);
    }

    #[test]
    fn bad_flags_are_refused() {
        assert!(parse(&args(&["--records"])).is_err());
        assert!(parse(&args(&["--records", "0"])).is_err());
        assert!(parse(&args(&["--bogus", "1"])).is_err());
        assert!(parse(&args(&["--peers", "postgres"])).is_err());
        assert!(parse(&args(&["--peers", "raw"])).is_err());
    }
}
