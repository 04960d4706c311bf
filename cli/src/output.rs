//! What a command prints: readable lines, or one JSON document with `--json`.
//!
//! Every actor command returns a value that is both [`serde::Serialize`]
//! (for scripts) and [`fmt::Display`] (for people). [`Output`] holds both
//! renderings so that `main.rs` prints one of them and nothing else goes to
//! stdout; progress and logs go to stderr.

use std::{
    fmt,
    io::{self, Write as _},
};

use serde::Serialize;

/// Writes `line` and a line break to standard output; `Ok(false)` when the
/// reader has gone (`medvault ... | head`), which is not an error: it has
/// read what it wanted.
pub fn print_line(line: impl fmt::Display) -> io::Result<bool> {
    let mut stdout = io::stdout().lock();
    match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(error) => Err(error),
    }
}

/// A command's result, ready to print.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    json: serde_json::Value,
    text: String,
}

impl Output {
    /// Renders `value` both ways.
    pub fn new<T: Serialize + fmt::Display>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Self { json: serde_json::to_value(value)?, text: value.to_string() })
    }

    /// The JSON rendering.
    pub fn json(&self) -> &serde_json::Value {
        &self.json
    }

    /// The readable rendering.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The rendering to print: pretty JSON when `json`, else the lines.
    pub fn render(&self, json: bool) -> String {
        if json {
            // A `Value` always serialises.
            serde_json::to_string_pretty(&self.json).unwrap_or_default()
        } else {
            self.text.trim_end().to_owned()
        }
    }
}

/// Writes `label  value` lines with the labels aligned.
pub struct Lines<'a, 'b> {
    f: &'a mut fmt::Formatter<'b>,
    width: usize,
}

impl<'a, 'b> Lines<'a, 'b> {
    /// Lines whose labels are padded to `width`.
    pub fn new(f: &'a mut fmt::Formatter<'b>, width: usize) -> Self {
        Self { f, width }
    }

    /// One `label  value` line.
    pub fn line(&mut self, label: &str, value: impl fmt::Display) -> Result<&mut Self, fmt::Error> {
        writeln!(self.f, "{label:<width$}  {value}", width = self.width)?;
        Ok(self)
    }
}

/// The result of most actor commands: what was done, its facts, the
/// transactions it took and, for lists, the items.
///
/// As JSON: `{"action", <each fact>, "transactions", "items"}`; as text, a
/// heading, the facts aligned, one line per transaction and per item.
#[derive(Debug, Clone, Default)]
pub struct Report {
    action: String,
    facts: Vec<(String, serde_json::Value)>,
    transactions: Vec<alloy::primitives::TxHash>,
    items: Option<Vec<(String, serde_json::Value)>>,
}

impl Report {
    /// A report headed `action` (e.g. `granted`).
    pub fn new(action: impl Into<String>) -> Self {
        Self { action: action.into(), ..Self::default() }
    }

    /// Adds a fact.
    pub fn fact(mut self, name: &str, value: impl Serialize) -> Self {
        self.facts.push((name.to_owned(), serde_json::to_value(value).unwrap_or_default()));
        self
    }

    /// Adds transactions.
    pub fn transactions(
        mut self,
        hashes: impl IntoIterator<Item = alloy::primitives::TxHash>,
    ) -> Self {
        self.transactions.extend(hashes);
        self
    }

    /// Adds a list item: a one-line summary and its JSON.
    pub fn item(mut self, line: impl Into<String>, value: serde_json::Value) -> Self {
        self.items.get_or_insert_with(Vec::new).push((line.into(), value));
        self
    }

    /// Marks the report as a list, even an empty one.
    pub fn list(mut self) -> Self {
        self.items.get_or_insert_with(Vec::new);
        self
    }

    /// Renders it.
    pub fn output(&self) -> Output {
        let mut json = serde_json::Map::new();
        json.insert("action".into(), self.action.clone().into());
        for (name, value) in &self.facts {
            json.insert(name.clone(), value.clone());
        }
        if !self.transactions.is_empty() {
            json.insert(
                "transactions".into(),
                self.transactions
                    .iter()
                    .map(|hash| serde_json::Value::String(hash.to_string()))
                    .collect(),
            );
        }
        if let Some(items) = &self.items {
            json.insert("items".into(), items.iter().map(|(_, value)| value.clone()).collect());
        }
        let mut text = format!("{}\n", self.action);
        let width = self.facts.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        for (name, value) in &self.facts {
            let shown = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            text.push_str(&format!("  {name:<width$}  {shown}\n"));
        }
        for hash in &self.transactions {
            text.push_str(&format!("  tx  {hash}\n"));
        }
        if let Some(items) = &self.items {
            if items.is_empty() {
                text.push_str("  (none)\n");
            }
            for (line, _) in items {
                text.push_str(&format!("  {line}\n"));
            }
        }
        Output { json: serde_json::Value::Object(json), text }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Done {
        record_id: u64,
    }

    impl fmt::Display for Done {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            Lines::new(f, 6).line("record", self.record_id)?;
            Ok(())
        }
    }

    #[test]
    fn a_report_names_its_facts_transactions_and_items() {
        let output = Report::new("granted")
            .fact("grantee", "0xabc")
            .fact("expiry", 7)
            .transactions([alloy::primitives::TxHash::repeat_byte(1)])
            .list()
            .output();
        assert_eq!(output.json()["grantee"], "0xabc");
        assert_eq!(output.json()["expiry"], 7);
        assert_eq!(output.json()["items"], serde_json::json!([]));
        assert!(output.text().starts_with("granted\n  grantee  0xabc\n  expiry   7\n  tx  0x0101"));
        assert!(output.text().ends_with("(none)\n"));
    }

    #[test]
    fn a_result_prints_as_lines_or_as_json() {
        let output = Output::new(&Done { record_id: 7 }).unwrap();
        assert_eq!(output.render(false), "record  7");
        let parsed: serde_json::Value = serde_json::from_str(&output.render(true)).unwrap();
        assert_eq!(parsed, serde_json::json!({ "record_id": 7 }));
    }
}
