//! Column roles: which column holds the text, text_b, label and id — from the `--*-column` options,
//! known header names, or the shape of the values.

use std::collections::HashSet;
use std::path::Path;

use super::super::format::{ID_NAMES, LABEL_NAMES, TEXT_B_NAMES, TEXT_NAMES};
use super::super::{ColumnRef, ImportOptions};
use super::{data_error, preview};
use crate::error::{Result, Setting, Text};

/// Column positions of the roles.
#[derive(Debug, Clone, Copy)]
pub(super) struct Roles {
    pub text: usize,
    pub text_b: Option<usize>,
    pub label: Option<usize>,
    pub id: Option<usize>,
}

/// `column 2` for an unnamed column, `column 1 ("sentence1")` for a named one.
pub(super) fn describe_column(names: &[String], i: usize) -> String {
    match names.get(i) {
        Some(name) if *name != format!("column_{}", i + 1) => format!("column {} {:?}", i + 1, name),
        _ => format!("column {}", i + 1),
    }
}

/// One line per column with a sample value, for messages that ask the user to choose.
fn list_columns(names: &[String], sample: &[&[Option<String>]]) -> String {
    let mut out = String::new();
    for (i, _) in names.iter().enumerate() {
        let example = sample
            .iter()
            .filter_map(|row| row.get(i).and_then(|v| v.as_deref()))
            .find(|v| !v.trim().is_empty())
            .map(|v| format!(", e.g. {}", preview(v)))
            .unwrap_or_default();
        out.push_str(&format!("\n  {}{}", describe_column(names, i), example));
    }
    out
}

/// Value statistics of one column over the sample.
struct Stats {
    count: usize,
    distinct: usize,
    mean_len: f64,
    max_len: usize,
    all_integers: bool,
}

impl Stats {
    fn of(sample: &[&[Option<String>]], col: usize) -> Stats {
        let mut distinct = HashSet::new();
        let (mut count, mut total, mut max_len, mut all_integers) = (0usize, 0usize, 0usize, true);
        for value in sample.iter().filter_map(|row| row.get(col).and_then(|v| v.as_deref())) {
            let v = value.trim();
            if v.is_empty() {
                continue;
            }
            let len = v.chars().count();
            count += 1;
            total += len;
            max_len = max_len.max(len);
            all_integers &= v.bytes().all(|b| b.is_ascii_digit());
            distinct.insert(v);
        }
        let mean_len = if count == 0 { 0.0 } else { total as f64 / count as f64 };
        Stats { count, distinct: distinct.len(), mean_len, max_len, all_integers: all_integers && count > 0 }
    }

    /// Short values that repeat: what a label column looks like.
    fn label_like(&self) -> bool {
        self.count > 0
            && self.max_len <= 64
            && self.mean_len <= 32.0
            && (self.count < 20 || self.distinct * 2 <= self.count)
    }
}

/// Of two columns, the label-like one and the text, if one clearly is each.
fn pick_label(sample: &[&[Option<String>]], a: usize, b: usize) -> Option<(usize, usize)> {
    let (sa, sb) = (Stats::of(sample, a), Stats::of(sample, b));
    let a_first = (sa.mean_len, sa.distinct) <= (sb.mean_len, sb.distinct);
    let (label, text, sl, st) = if a_first { (a, b, sa, sb) } else { (b, a, sb, sa) };
    (sl.label_like() && st.mean_len > sl.mean_len).then_some((label, text))
}

fn find_column(names: &[String], r: &ColumnRef) -> Option<usize> {
    match r {
        ColumnRef::Index(i) => (*i < names.len()).then_some(*i),
        ColumnRef::Name(n) => {
            names.iter().position(|c| c == n).or_else(|| names.iter().position(|c| c.eq_ignore_ascii_case(n)))
        }
    }
}

/// The columns the template's fields name (`{before}`, `{meta.before}`), in template order; the
/// fields an [`Example`](crate::data::Example) always has (`text_a`, `text_b`, `label`, `id`) and
/// the engine's own `{demo}` name none.
pub(super) fn template_columns(options: &ImportOptions, names: &[String]) -> Vec<usize> {
    let mut out = Vec::new();
    for field in &options.template_fields {
        let name = field.strip_prefix("meta.").unwrap_or(field);
        if ["text_a", "text_b", "label", "id", "demo"].contains(&name) {
            continue;
        }
        if let Some(i) = find_column(names, &ColumnRef::Name(name.to_string()))
            && !out.contains(&i)
        {
            out.push(i);
        }
    }
    out
}

/// Map columns to roles: explicit options first, then known header names, then a column the
/// template names, then the two-column label/text heuristic. See [`ImportOptions`].
pub(super) fn resolve(
    path: &Path,
    options: &ImportOptions,
    names: &[String],
    sample: &[&[Option<String>]],
    named: bool,
) -> Result<Roles> {
    const ROLES: [&str; 4] = ["text", "text_b", "label", "id"];
    const SETTINGS: [Setting; 4] =
        [Setting::TextColumn, Setting::TextBColumn, Setting::LabelColumn, Setting::IdColumn];
    let err = |message: Text| data_error(path, None, message);
    let mut slots: [Option<usize>; 4] = [None; 4];
    let mut taken = vec![false; names.len()];

    let explicit = [&options.text_column, &options.text_b_column, &options.label_column, &options.id_column];
    for (k, r) in explicit.iter().enumerate() {
        let Some(r) = r else { continue };
        let Some(i) = find_column(names, r) else {
            let what = match r {
                ColumnRef::Index(i) => format!("there is no column {} (the file has {})", i + 1, names.len()),
                ColumnRef::Name(n) => format!("there is no column named {n:?}"),
            };
            return Err(err(Text::default()
                .setting(SETTINGS[k])
                .then(format!(" {r}: {what}. Columns found:{}", list_columns(names, sample)))));
        };
        if let Some(other) = slots.iter().position(|s| *s == Some(i)) {
            return Err(err(Text::default().setting(SETTINGS[k]).then(format!(
                " {r}: {} is already the {} column; give each role a different column",
                describe_column(names, i),
                ROLES[other]
            ))));
        }
        taken[i] = true;
        slots[k] = Some(i);
    }

    let guess = !options.explicit_columns;
    if named && guess {
        for (k, known) in [TEXT_NAMES, TEXT_B_NAMES, LABEL_NAMES, ID_NAMES].iter().enumerate() {
            if slots[k].is_some() {
                continue;
            }
            let found = known.iter().find_map(|want| {
                (0..names.len()).find(|&i| !taken[i] && names[i].eq_ignore_ascii_case(want))
            });
            if let Some(i) = found {
                taken[i] = true;
                slots[k] = Some(i);
            }
        }
    }

    // A template that reads columns by name says which column is the text when nothing above did.
    if slots[0].is_none()
        && let Some(i) = template_columns(options, names).into_iter().find(|&i| !taken[i])
    {
        slots[0] = Some(i);
        taken[i] = true;
    }

    let free = |taken: &[bool]| (0..names.len()).filter(|&i| !taken[i]).collect::<Vec<_>>();
    if slots[0].is_none() && guess {
        match free(&taken).as_slice() {
            [a, b] if slots[2].is_none() => {
                if let Some((label, text)) = pick_label(sample, *a, *b) {
                    slots[2] = Some(label);
                    slots[0] = Some(text);
                    taken[label] = true;
                    taken[text] = true;
                }
            }
            [only] => {
                slots[0] = Some(*only);
                taken[*only] = true;
            }
            _ => {}
        }
    }
    let Some(text) = slots[0] else {
        return Err(err(Text::from(format!(
            "cannot tell which column holds the text. Columns found:{}\n",
            list_columns(names, sample)
        ))
        .then("choose it with ")
        .setting(Setting::TextColumn)
        .cli_only(" (a column number or name)")
        .then(", and the others with ")
        .setting(Setting::LabelColumn)
        .then(" and ")
        .setting(Setting::TextBColumn)));
    };
    // Without a header, one short column left over next to a chosen text is the label.
    if !named
        && guess
        && slots[2].is_none()
        && options.label_column.is_none()
        && let [only] = free(&taken).as_slice()
    {
        let (sl, st) = (Stats::of(sample, *only), Stats::of(sample, text));
        if sl.label_like() && st.mean_len > sl.mean_len {
            slots[2] = Some(*only);
        }
    }
    if options.text_column.is_none() && Stats::of(sample, text).all_integers {
        return Err(err(Text::from(format!(
            "{} holds only whole numbers, so it looks like an index rather than text. Columns found:{}\n",
            describe_column(names, text),
            list_columns(names, sample)
        ))
        .then("choose the column that holds the text with ")
        .setting(Setting::TextColumn)
        .then(" (and an index column with ")
        .setting(Setting::IdColumn)
        .then(")")));
    }
    Ok(Roles { text, text_b: slots[1], label: slots[2], id: slots[3] })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::data::{ColumnRef, ImportOptions, load};

    #[test]
    fn column_mapping() {
        let ag = "\"3\",\"Wall St. Bears Claw Back\",\"Reuters - Short-sellers are seeing green\"\n\
                  \"4\",\"Space race\",\"SPACE.com - a second team sets a date\"\n";
        let file = TempFile::new("ag.csv", ag.as_bytes());
        let err = load(&file.path, &opts()).unwrap_err();
        assert_eq!(
            message(&file, &err),
            "cannot tell which column holds the text. Columns found:\n  column 1, e.g. \"3\"\n  column 2, e.g. \
             \"Wall St. Bears Claw Back\"\n  column 3, e.g. \"Reuters - Short-sellers are seeing green\"\nchoose \
             it with --text-column (a column number or name), and the others with --label-column and \
             --text-b-column"
        );
        let mapped = ImportOptions {
            label_column: Some(ColumnRef::Index(0)),
            text_column: Some(ColumnRef::Index(1)),
            text_b_column: Some(ColumnRef::Index(2)),
            ..opts()
        };
        let (ex, report) = load(&file.path, &mapped).unwrap();
        assert_eq!(labels(&ex), [Some("3"), Some("4")]);
        assert_eq!(ex[1].text_b.as_deref(), Some("SPACE.com - a second team sets a date"));
        assert!(ex[0].meta.is_empty());
        assert_eq!(report.mapping.text_b.as_deref(), Some("column_3"));
        // Text alone: the other columns go to meta by their column_N names.
        let (ex, _) =
            load(&file.path, &ImportOptions { text_column: Some("column_3".parse().unwrap()), ..opts() })
                .unwrap();
        assert_eq!(ex[0].label, None);
        assert_eq!(ex[0].field("column_2"), Some("Wall St. Bears Claw Back"));

        let cases: Vec<(ImportOptions, &str)> = vec![
            (
                ImportOptions { text_column: Some(ColumnRef::Index(5)), ..opts() },
                "--text-column 6: there is no column 6 (the file has 3).",
            ),
            (
                ImportOptions { label_column: Some(ColumnRef::Name("topic".into())), ..opts() },
                "--label-column topic: there is no column named \"topic\".",
            ),
            (
                ImportOptions {
                    text_column: Some(ColumnRef::Index(1)),
                    label_column: Some(ColumnRef::Index(1)),
                    ..opts()
                },
                "--label-column 2: column 2 is already the text column; give each role a different column",
            ),
        ];
        for (options, want) in cases {
            let err = load(&file.path, &options).unwrap_err();
            assert!(message(&file, &err).starts_with(want), "{err}");
        }

        // Headerless two columns with the text chosen: the short other column is the label.
        let sms = "ham\tGo until jurong point\nspam\tFree entry in 2 a wkly comp\n";
        let (ex, _) =
            load_str("sms", sms, &ImportOptions { text_column: Some(ColumnRef::Index(1)), ..opts() })
                .unwrap();
        assert_eq!(labels(&ex), [Some("ham"), Some("spam")]);
        // Names are matched ignoring case; explicit names too.
        let (ex, report) = load_str(
            "n.csv",
            "Review,Stars\ngreat,5\n",
            &ImportOptions { label_column: Some("stars".parse().unwrap()), ..opts() },
        )
        .unwrap();
        assert_eq!((ex[0].text_a.as_str(), ex[0].label.as_deref()), ("great", Some("5")));
        assert_eq!(report.mapping.label.as_deref(), Some("Stars"));
    }

    #[test]
    fn index_column_is_not_text() {
        // GLUE SST-2 test: the header says text/label but the columns are index/sentence.
        let content = "text\tlabel\n0\tuneasy mishmash of styles and genres .\n1\ta poor imitation .\n";
        let file = TempFile::new("test.tsv", content.as_bytes());
        let err = load(&file.path, &opts()).unwrap_err();
        assert!(
            message(&file, &err)
                .starts_with("column 1 \"text\" holds only whole numbers, so it looks like an index"),
            "{err}"
        );
        let options = ImportOptions {
            text_column: Some(ColumnRef::Index(1)),
            id_column: Some(ColumnRef::Index(0)),
            ..opts()
        };
        let (ex, report) = load(&file.path, &options).unwrap();
        assert_eq!(texts(&ex), ["uneasy mishmash of styles and genres .", "a poor imitation ."]);
        assert_eq!(ex.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["0", "1"]);
        assert_eq!(labels(&ex), [None, None]);
        assert_eq!(report.mapping.label, None);
    }

    #[test]
    fn template_fields_bind_columns_by_name() {
        let jsonl = "{\"before\": \"the film was\", \"after\": \", truly\", \"label\": \"pos\"}\n\
                     {\"before\": \"a plot that was\", \"after\": \" and slow\", \"label\": \"neg\"}\n";
        let csv = "sentence,label\nA fine film,pos\nA dull film,neg\n";
        // (file, content, template fields, text_a of row 1, meta of row 1, fields, or an error part)
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a [&'a str],
            Result<(&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]), &'a str>,
        );
        let cases: &[Case] = &[
            // Nothing says which of two text columns is the text: asked for.
            ("a.jsonl", jsonl, &[], Err("cannot tell which column holds the text")),
            // `{before} {mask} {after}`: the template says; both stay readable by name.
            (
                "a.jsonl",
                jsonl,
                &["before", "after"],
                Ok((
                    "the film was",
                    &[("after", ", truly"), ("before", "the film was")],
                    &["text_a", "label", "id", "before", "after"],
                )),
            ),
            // `{meta.after} {mask}`: the first named column is the text.
            (
                "a.jsonl",
                jsonl,
                &["meta.after"],
                Ok((
                    ", truly",
                    &[("after", ", truly"), ("before", "the film was")],
                    &["text_a", "label", "id", "before", "after"],
                )),
            ),
            // `{sentence}` names the column the header made the text: readable by name too.
            (
                "a.csv",
                csv,
                &["sentence"],
                Ok(("A fine film", &[("sentence", "A fine film")], &["text_a", "label", "id", "sentence"])),
            ),
            // Fields every example has bind nothing.
            ("a.csv", csv, &["text_a", "label"], Ok(("A fine film", &[], &["text_a", "label", "id"]))),
        ];
        for (name, content, fields, want) in cases {
            let options = opts().for_fields(fields.iter().copied());
            match (load_str(name, content, &options), want) {
                (Ok((ex, report)), Ok((text, meta, want_fields))) => {
                    assert_eq!(ex[0].text_a, *text, "{fields:?}");
                    let got: Vec<(&str, &str)> =
                        ex[0].meta.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    assert_eq!(got, *meta, "{fields:?}");
                    assert_eq!(report.fields(), *want_fields, "{fields:?}");
                    for f in *fields {
                        assert!(ex[0].field(f).is_some(), "{f} is readable");
                    }
                }
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{fields:?}: {e}"),
                (got, want) => panic!("{fields:?}: {:?} vs {want:?}", got.map(|(ex, _)| ex)),
            }
        }
    }
}
