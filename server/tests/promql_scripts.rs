//! Prometheus's own PromQL test scripts (`../shared/promql-tests/*.test`, the
//! promqltest format) run against TinyObs's engine over a real `Storage`.
//! Prints passed / failed / skipped eval cases per file, and fails when a file
//! passes fewer cases than `promql-baseline.txt` records, so a regression
//! fails CI. Raise the baseline as the engine grows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tinyobs::promql::{Engine, Value};
use tinyobs::storage::{
    Append, Labels, METRIC_NAME, STALE_NAN_BITS, Sample, Storage, StorageConfig,
};

/// Files left out, and why.
const SKIPPED_FILES: [(&str, &str); 6] = [
    ("native_histograms.test", "native histograms are not stored"),
    (
        "duration_expression.test",
        "experimental duration expressions",
    ),
    (
        "extended_vectors.test",
        "experimental anchored/smoothed selectors",
    ),
    ("fill-modifier.test", "experimental fill modifiers"),
    ("type_and_unit.test", "experimental type and unit labels"),
    ("start_timestamps.test", "experimental start timestamps"),
];

/// Functions that only apply to native histograms: cases using them are
/// skipped, as the native-histogram files are.
const NATIVE_FUNCTIONS: [&str; 6] = [
    "histogram_count",
    "histogram_sum",
    "histogram_avg",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_fraction",
];

type LabelSet = BTreeMap<String, String>;

/// A value in a points list: a number, a stale marker, or no sample.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Point {
    Value(f64),
    Stale,
    Missing,
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
    first_failures: Vec<String>,
}

fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/promql-tests")
}

/// `1m`, `1h30m`, `0`, `90s`, `100ms` → ms.
fn duration_ms(text: &str) -> Option<i64> {
    if let Ok(n) = text.parse::<i64>() {
        return Some(n * 1000);
    }
    promql_parser::util::parse_duration(text)
        .ok()
        .map(|d| d.as_millis() as i64)
}

fn parse_number(text: &str) -> Option<f64> {
    match text {
        "Inf" | "+Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => text.parse().ok().or_else(|| {
            let hex = text.strip_prefix("0x")?;
            i64::from_str_radix(hex, 16).ok().map(|v| v as f64)
        }),
    }
}

/// Expands `1 2+3x2 _ stale _x2 -1-1x2` into points; `None` for syntax this
/// harness does not read (native histograms).
fn parse_points(text: &str) -> Option<Vec<Point>> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        if token.starts_with("{{") {
            return None;
        }
        match token {
            "_" => out.push(Point::Missing),
            "stale" => out.push(Point::Stale),
            _ => {
                if let Some((base, times)) = token.split_once('x') {
                    let n: usize = times.parse().ok()?;
                    if base == "_" {
                        out.extend(std::iter::repeat_n(Point::Missing, n));
                        continue;
                    }
                    // `a+b`, `a-b` or plain `a` (step 0); `a` may be negative.
                    let split = base[1..].find(['+', '-']).map(|i| i + 1);
                    let (start, step) = match split {
                        Some(i) => (parse_number(&base[..i])?, parse_number(&base[i..])?),
                        None => (parse_number(base)?, 0.0),
                    };
                    out.extend((0..=n).map(|i| Point::Value(start + step * i as f64)));
                } else {
                    out.push(Point::Value(parse_number(token)?));
                }
            }
        }
    }
    Some(out)
}

/// `metric{a="b", c="d"}` or `{a="b"}` or `metric` → labels and the rest of the line.
fn parse_series_line(line: &str) -> Option<(LabelSet, &str)> {
    let line = line.trim();
    let mut labels = LabelSet::new();
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    if name_end > 0 {
        labels.insert(METRIC_NAME.to_string(), line[..name_end].to_string());
    }
    let bytes = line.as_bytes();
    let mut i = name_end;
    if bytes.get(i) != Some(&b'{') {
        return Some((labels, &line[i..]));
    }
    i += 1;
    loop {
        while i < bytes.len() && (bytes[i] == b',' || bytes[i].is_ascii_whitespace()) {
            i += 1;
        }
        if *bytes.get(i)? == b'}' {
            return Some((labels, &line[i + 1..]));
        }
        let eq = i + line[i..].find('=')?;
        let key = line[i..eq].trim().trim_matches('"').to_string();
        i = eq + 1;
        while bytes.get(i)?.is_ascii_whitespace() {
            i += 1;
        }
        let quote = *bytes.get(i)?;
        i += 1;
        let mut value = String::new();
        let mut chars = line[i..].char_indices();
        loop {
            let (at, c) = chars.next()?;
            match c {
                '\\' => {
                    let (_, next) = chars.next()?;
                    value.push(if next == 'n' { '\n' } else { next });
                }
                c if c as u32 == quote as u32 => {
                    i += at + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(key, value);
    }
}

/// One `eval` case.
struct Case {
    line: usize,
    query: String,
    /// `None`: instant at `start`.
    range: Option<(i64, i64)>,
    start: i64,
    expect_fail: bool,
    ordered: bool,
    /// Annotations or range-vector results this engine does not produce.
    unsupported: Option<&'static str>,
    expected_string: Option<String>,
    expected: Vec<(LabelSet, Vec<Point>)>,
    /// Expected series or values in a syntax this harness does not read.
    unreadable: bool,
}

enum Command {
    Load {
        interval: i64,
        series: Vec<(LabelSet, Vec<Point>)>,
        /// Metric names of series in a syntax this harness does not read.
        unreadable: Vec<String>,
        /// Native histograms derived by `load_with_nhcb`, by name.
        native: Vec<String>,
    },
    Clear,
    Eval(Case),
}

fn is_command(line: &str) -> bool {
    ["load", "clear", "eval"]
        .iter()
        .any(|c| line.starts_with(c))
}

fn parse_script(text: &str) -> Vec<Command> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The lines that belong to this command.
        let mut body = Vec::new();
        while i < lines.len() {
            let next = lines[i].trim();
            if next.is_empty() || is_command(next) {
                break;
            }
            if !next.starts_with('#') {
                body.push(next);
            }
            i += 1;
        }
        let number = i;
        if line == "clear" {
            out.push(Command::Clear);
        } else if let Some(interval) = line
            .strip_prefix("load ")
            // `load_with_nhcb` also derives native histograms from classic
            // ones; the classic float series are what TinyObs stores.
            .or_else(|| line.strip_prefix("load_with_nhcb "))
        {
            let nhcb = line.starts_with("load_with_nhcb ");
            let interval = interval
                .split_whitespace()
                .next()
                .and_then(duration_ms)
                .unwrap_or(60_000);
            let mut series = Vec::new();
            let mut unreadable = Vec::new();
            let mut native = Vec::new();
            for b in body {
                let name = b.split(['{', ' ', '\t']).next().unwrap_or("").to_string();
                // The native histogram `load_with_nhcb` derives from `x_bucket`
                // is named `x`: TinyObs has no such series.
                if nhcb && let Some(base) = name.strip_suffix("_bucket") {
                    native.push(base.to_string());
                }
                match parse_series_line(b).and_then(|(l, rest)| Some((l, parse_points(rest)?))) {
                    Some(s) => series.push(s),
                    None => unreadable.push(name),
                }
            }
            native.sort();
            native.dedup();
            out.push(Command::Load {
                interval,
                series,
                unreadable,
                native,
            });
        } else if line.starts_with("eval")
            && let Some(case) = parse_eval(line, &body, number)
        {
            out.push(Command::Eval(case));
        }
    }
    out
}

fn parse_eval(line: &str, body: &[&str], number: usize) -> Option<Case> {
    let (keyword, rest) = line.split_once(' ')?;
    let mut case = Case {
        line: number,
        query: String::new(),
        range: None,
        start: 0,
        expect_fail: keyword == "eval_fail",
        ordered: keyword == "eval_ordered",
        // `eval_warn`/`eval_info` and `expect warn|info` also expect an
        // annotation; TinyObs gives none, so only the values are compared.
        unsupported: None,
        expected_string: None,
        expected: Vec::new(),
        unreadable: false,
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    match *words.first()? {
        "instant" => {
            // instant at <time> <query>
            case.start = duration_ms(words.get(2)?)?;
            let at = rest.find(words[2])? + words[2].len();
            case.query = rest[at..].trim().to_string();
        }
        "range" => {
            // range from <a> to <b> step <s> <query>
            case.start = duration_ms(words.get(2)?)?;
            let end = duration_ms(words.get(4)?)?;
            let step = duration_ms(words.get(6)?)?;
            case.range = Some((end, step));
            let at = rest.find(&format!("step {}", words[6]))? + 5 + words[6].len();
            case.query = rest[at..].trim().to_string();
        }
        _ => return None,
    }
    for b in body {
        if let Some(expect) = b.strip_prefix("expect ") {
            let kind = expect.split([' ', ':']).next().unwrap_or("");
            match kind {
                "fail" => case.expect_fail = true,
                "ordered" => case.ordered = true,
                "warn" | "info" | "no_warn" | "no_info" => {}
                "range" => case.unsupported = Some("range-vector results of instant queries"),
                "string" => {
                    let quoted = expect["string".len()..].trim();
                    case.expected_string = Some(quoted.trim_matches(['"', '`']).to_string());
                }
                _ => case.unreadable = true,
            }
            continue;
        }
        // A bare number is a scalar result.
        if let Some(v) = parse_number(b) {
            case.expected.push((LabelSet::new(), vec![Point::Value(v)]));
            continue;
        }
        match parse_series_line(b).and_then(|(l, rest)| Some((l, parse_points(rest)?))) {
            Some(s) => case.expected.push(s),
            None => case.unreadable = true,
        }
    }
    Some(case)
}

fn open_store(dir: &Path) -> Storage {
    let mut config = StorageConfig::new(dir);
    config.sync_wal = false;
    Storage::open(config).expect("open storage")
}

fn load(store: &Storage, interval: i64, series: &[(LabelSet, Vec<Point>)]) {
    let batch: Vec<Append> = series
        .iter()
        .map(|(labels, points)| Append {
            labels: Labels::new(labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            samples: points
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    let t = i as i64 * interval;
                    match p {
                        Point::Value(v) => Some(Sample { t, v: *v }),
                        Point::Stale => Some(Sample {
                            t,
                            v: f64::from_bits(STALE_NAN_BITS),
                        }),
                        Point::Missing => None,
                    }
                })
                .collect(),
        })
        .collect();
    store.append(&batch).expect("append");
}

fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    diff <= 1e-6 * a.abs().max(b.abs()) || diff < 1e-12
}

/// Runs one case: `Ok(())` on a match, `Err(why)` otherwise.
fn run_case(engine: &Engine<'_>, case: &Case) -> Result<(), String> {
    let result = match case.range {
        None => engine.instant(&case.query, case.start).map(Some),
        Some((end, step)) => engine
            .range(&case.query, case.start, end, step)
            .map(|series| {
                Some(Value::Matrix(
                    series
                        .into_iter()
                        .map(|s| tinyobs::promql::Series {
                            labels: s.labels,
                            points: s.points,
                        })
                        .collect(),
                ))
            }),
    };
    let value = match (result, case.expect_fail) {
        // Refusing what the engine cannot do yet is not the expected error.
        (Err(tinyobs::promql::PromqlError::Unsupported(what)), _) => {
            return Err(format!("not supported yet: {what}"));
        }
        (Err(_), true) => return Ok(()),
        (Ok(_), true) => return Err("expected an error".into()),
        (Err(e), false) => return Err(e.to_string()),
        (Ok(v), false) => v.expect("a value"),
    };
    let mut got: Vec<(LabelSet, Vec<Point>)> = match (&value, case.range) {
        (Value::String(s), _) => {
            return match &case.expected_string {
                Some(want) if want == s => Ok(()),
                _ => Err(format!("got string {s:?}")),
            };
        }
        (Value::Scalar { v, .. }, _) => vec![(LabelSet::new(), vec![Point::Value(*v)])],
        (Value::Vector(samples), _) => samples
            .iter()
            .map(|s| (s.labels.clone(), vec![Point::Value(s.v)]))
            .collect(),
        (Value::Matrix(series), Some((end, step))) => series
            .iter()
            .map(|s| {
                let mut points = Vec::new();
                let mut t = case.start;
                let mut it = s.points.iter().peekable();
                while t <= end {
                    match it.peek() {
                        Some((pt, v)) if *pt == t => {
                            points.push(Point::Value(*v));
                            it.next();
                        }
                        _ => points.push(Point::Missing),
                    }
                    t += step;
                }
                (s.labels.clone(), points)
            })
            .collect(),
        (Value::Matrix(_), None) => return Err("range-vector result".into()),
    };
    let mut want = case.expected.clone();
    // Trailing missing points are not written in expected lines.
    for (_, points) in got.iter_mut().chain(want.iter_mut()) {
        while points.last() == Some(&Point::Missing) {
            points.pop();
        }
    }
    if !case.ordered {
        got.sort_by(|a, b| a.0.cmp(&b.0));
        want.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let same = got.len() == want.len()
        && got.iter().zip(&want).all(|((gl, gp), (wl, wp))| {
            gl == wl
                && gp.len() == wp.len()
                && gp.iter().zip(wp).all(|(g, w)| match (g, w) {
                    (Point::Value(a), Point::Value(b)) => close(*a, *b),
                    (a, b) => a == b,
                })
        });
    match same {
        true => Ok(()),
        false => Err(format!("got {got:?}, want {want:?}")),
    }
}

fn run_file(path: &Path) -> Tally {
    let text = std::fs::read_to_string(path).expect("read script");
    let mut tally = Tally::default();
    let mut dir = tempfile::tempdir().unwrap();
    let mut store = open_store(dir.path());
    // Metrics loaded in a syntax this harness does not read (native
    // histograms): a case that queries one is skipped.
    let mut unreadable_data: Vec<String> = Vec::new();
    let mut native_data: Vec<String> = Vec::new();
    for command in parse_script(&text) {
        match command {
            Command::Clear => {
                drop(store);
                dir = tempfile::tempdir().unwrap();
                store = open_store(dir.path());
                unreadable_data.clear();
                native_data.clear();
            }
            Command::Load {
                interval,
                series,
                unreadable,
                native,
            } => {
                unreadable_data.extend(unreadable);
                native_data.extend(native);
                load(&store, interval, &series);
            }
            Command::Eval(case) => {
                // Functions of native histograms, which TinyObs does not store.
                let native = NATIVE_FUNCTIONS
                    .iter()
                    .any(|f| case.query.contains(&format!("{f}(")));
                let reads_unreadable = native
                    || native_data.iter().any(|n| names_metric(&case.query, n))
                    || unreadable_data
                        .iter()
                        .any(|m| m.is_empty() || case.query.contains(m.as_str()));
                if case.unreadable || reads_unreadable || case.unsupported.is_some() {
                    tally.skipped += 1;
                    continue;
                }
                let engine = Engine::new(&store);
                match run_case(&engine, &case) {
                    Ok(()) => tally.passed += 1,
                    Err(why) => {
                        tally.failed += 1;
                        // PROMQL_VERBOSE=1 lists every failure, in full.
                        if std::env::var_os("PROMQL_VERBOSE").is_some() {
                            println!(
                                "FAIL {}:{}: {}\n  {why}",
                                path.display(),
                                case.line,
                                case.query
                            );
                        }
                        if tally.first_failures.len() < 3 {
                            let why: String = why.chars().take(160).collect();
                            tally
                                .first_failures
                                .push(format!("line {}: {} — {why}", case.line, case.query));
                        }
                    }
                }
            }
        }
    }
    tally
}

/// Whether `query` selects metric `name`: the name as a whole word, or a
/// `__name__` regex that matches it.
fn names_metric(query: &str, name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let as_word = query.match_indices(name).any(|(i, _)| {
        let before = query[..i].chars().next_back();
        let after = query[i + name.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word) && before != Some('"')
    });
    let by_regex = regex::Regex::new(r#"__name__\s*=~\s*"((?:[^"\\]|\\.)*)""#)
        .unwrap()
        .captures_iter(query)
        .any(|c| {
            let pattern = c[1].replace("\\\\", "\\");
            regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|r| r.is_match(name))
        });
    as_word || by_regex
}

fn baseline() -> BTreeMap<String, usize> {
    let text = include_str!("promql-baseline.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (file, n) = l.split_once(char::is_whitespace)?;
            Some((file.to_string(), n.trim().parse().ok()?))
        })
        .collect()
}

#[test]
fn prometheus_promql_test_scripts() {
    let dir = shared_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!(
            "{} not found: the PromQL scripts live beside the checkout",
            dir.display()
        );
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    let baseline = baseline();
    let mut regressions = Vec::new();
    println!("| file | passed | failed | skipped | baseline |");
    println!("|---|---|---|---|---|");
    let (mut all_passed, mut all_cases) = (0, 0);
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if let Some((_, why)) = SKIPPED_FILES.iter().find(|(f, _)| *f == name) {
            println!("| {name} | | | all | skipped: {why} |");
            continue;
        }
        let tally = run_file(&path);
        let floor = baseline.get(&name).copied().unwrap_or(0);
        all_passed += tally.passed;
        all_cases += tally.passed + tally.failed;
        println!(
            "| {name} | {} | {} | {} | {floor} |",
            tally.passed, tally.failed, tally.skipped
        );
        for f in &tally.first_failures {
            println!("|   | {f} | | | |");
        }
        if tally.passed < floor {
            regressions.push(format!("{name}: {} passed, baseline {floor}", tally.passed));
        }
    }
    println!("total: {all_passed} of {all_cases} evaluated cases pass");
    assert!(
        regressions.is_empty(),
        "PromQL regressions: {regressions:?}"
    );
}
