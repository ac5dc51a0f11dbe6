//! `symphony ext <prefix> <operation> [--<param> value …] [--body @file|-|JSON] [--table]`: every
//! operation of an extension's OpenAPI as a command, built at run time from the instance's
//! aggregated document (`GET /api/v1/openapi.json`) with the stored sign-in, so a new extension's
//! API is on the command line as soon as it registers (docs/operations.md "Extension commands").
//!
//! An operation's command name is the rule the gateway maps it by (docs/protocol.md §7.1): its
//! `operationId`, else `x-symphony-endpoint`, else its last literal path segment; when two
//! operations share a name, each gets `-<method>` appended. The pure parts (the operation list, the
//! arguments, the help, the table) are apart from the HTTP call.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, anyhow, bail};
use reqwest::Method;
use serde_json::Value;

use symphony_protocol::routes::{METHODS, last_literal_segment};

use super::RemoteArgs;
use super::http_client::ApiClient;
use crate::gateway::BASE;

#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct ExtArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The extension prefix (omit it to list the extensions that have commands).
    pub prefix: Option<String>,
    /// The operation and its arguments: `<operation> [--<param> value …] [--body @file|-|JSON] [--table]`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    Header,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub location: Location,
    pub required: bool,
    pub description: String,
}

/// One operation of an extension, as a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub name: String,
    pub method: String,
    /// Relative to the extension base (`/items/{id}`).
    pub path: String,
    pub summary: String,
    pub description: String,
    pub params: Vec<Param>,
    /// Whether the operation documents a request body, and whether it must have one.
    pub body: Option<bool>,
}

/// The extensions the document has operations for, with their tag (`Name (prefix)`).
pub fn extensions(doc: &Value) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for path in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.keys())
    {
        if let Some((prefix, _)) = path.strip_prefix(BASE).and_then(|r| r.split_once('/')) {
            *out.entry(prefix.to_owned()).or_default() += 1;
        }
    }
    out
}

/// Follows a local `$ref` (`#/components/parameters/x`) in `doc`.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|pointer| doc.pointer(pointer))
            .unwrap_or(v),
        None => v,
    }
}

fn params_of(doc: &Value, list: Option<&Value>) -> Vec<Param> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let p = resolve(doc, p);
            let location = match p.get("in")?.as_str()? {
                "path" => Location::Path,
                "query" => Location::Query,
                "header" => Location::Header,
                _ => return None,
            };
            Some(Param {
                name: p.get("name")?.as_str()?.to_owned(),
                location,
                required: location == Location::Path
                    || p.get("required").and_then(Value::as_bool) == Some(true),
                description: p
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            })
        })
        .collect()
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The operations of `prefix` in the aggregated document, by command name.
pub fn operations(doc: &Value, prefix: &str) -> Vec<Operation> {
    let base = format!("{BASE}{prefix}");
    let mut out: Vec<Operation> = Vec::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for (full, item) in paths {
        let Some(path) = full.strip_prefix(&base).filter(|p| p.starts_with('/')) else {
            continue;
        };
        let shared = params_of(doc, item.get("parameters"));
        for method in METHODS.iter().copied() {
            let Some(op) = item.get(method) else {
                continue;
            };
            let name = op
                .get("operationId")
                .or_else(|| op.get("x-symphony-endpoint"))
                .and_then(Value::as_str)
                .map(|s| s.rsplit('.').next().unwrap_or(s).to_owned())
                .or_else(|| last_literal_segment(path).map(str::to_owned))
                .unwrap_or_else(|| method.to_owned());
            let mut params = shared.clone();
            for p in params_of(doc, op.get("parameters")) {
                params.retain(|q| !(q.name == p.name && q.location == p.location));
                params.push(p);
            }
            let body = op
                .get("requestBody")
                .map(|b| resolve(doc, b).get("required").and_then(Value::as_bool) == Some(true));
            out.push(Operation {
                name,
                method: method.to_ascii_uppercase(),
                path: path.to_owned(),
                summary: text(op, "summary"),
                description: text(op, "description"),
                params,
                body,
            });
        }
    }
    // Two operations with one name: tell them apart by method.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for op in &out {
        *counts.entry(op.name.clone()).or_default() += 1;
    }
    for op in &mut out {
        if counts[&op.name] > 1 {
            op.name = format!("{}-{}", op.name, op.method.to_ascii_lowercase());
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Where the request body comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodySource {
    None,
    /// `--body @file`
    File(String),
    /// `--body -`
    Stdin,
    /// `--body '{"a":1}'`
    Inline(String),
}

/// A parsed invocation of one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The path below `/api/v1`, with parameters filled in and the query string.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: BodySource,
    pub table: bool,
    pub help: bool,
}

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Parses `--<param> value`, `--<param>=value`, `--body …`, `--table` and `--help` for `op`.
pub fn invocation(prefix: &str, op: &Operation, args: &[String]) -> anyhow::Result<Invocation> {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    let mut body = BodySource::None;
    let (mut table, mut help) = (false, false);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            if arg == "-h" {
                help = true;
                continue;
            }
            bail!(
                "unexpected argument {arg:?}: parameters are `--<name> value` (see `symphony ext {prefix} {} --help`)",
                op.name
            );
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (flag, None),
        };
        match name {
            "table" => table = true,
            "help" => help = true,
            _ => {
                let value = match inline {
                    Some(v) => v,
                    None => rest
                        .next()
                        .cloned()
                        .ok_or_else(|| anyhow!("--{name} needs a value"))?,
                };
                if name == "body" {
                    body = match value.as_str() {
                        "-" => BodySource::Stdin,
                        v if v.starts_with('@') => BodySource::File(v[1..].to_owned()),
                        v => BodySource::Inline(v.to_owned()),
                    };
                } else if op.params.iter().any(|p| p.name == name) {
                    values.insert(name.to_owned(), value);
                } else {
                    let known: Vec<String> =
                        op.params.iter().map(|p| format!("--{}", p.name)).collect();
                    bail!(
                        "{} has no parameter --{name}{}",
                        op.name,
                        if known.is_empty() {
                            String::new()
                        } else {
                            format!(" (parameters: {})", known.join(", "))
                        }
                    );
                }
            }
        }
    }
    if help {
        return Ok(Invocation {
            path: String::new(),
            headers: Vec::new(),
            body,
            table,
            help,
        });
    }
    let missing: Vec<String> = op
        .params
        .iter()
        .filter(|p| p.required && !values.contains_key(&p.name))
        .map(|p| format!("--{}", p.name))
        .collect();
    if !missing.is_empty() {
        bail!("{} needs {}", op.name, missing.join(", "));
    }
    if op.body == Some(true) && body == BodySource::None {
        bail!(
            "{} needs a request body: --body @file, --body - (stdin) or --body JSON",
            op.name
        );
    }
    let mut path = op.path.clone();
    let mut query = Vec::new();
    let mut headers = Vec::new();
    for p in &op.params {
        let Some(value) = values.get(&p.name) else {
            continue;
        };
        match p.location {
            Location::Path => path = path.replace(&format!("{{{}}}", p.name), &encode(value)),
            Location::Query => query.push(format!("{}={}", encode(&p.name), encode(value))),
            Location::Header => headers.push((p.name.clone(), value.clone())),
        }
    }
    let mut full = format!("/extension/{prefix}{path}");
    if !query.is_empty() {
        full.push('?');
        full.push_str(&query.join("&"));
    }
    Ok(Invocation {
        path: full,
        headers,
        body,
        table,
        help: false,
    })
}

/// `symphony ext <prefix> --help`: the operations.
pub fn prefix_help(prefix: &str, ops: &[Operation]) -> String {
    let mut out = format!(
        "Operations of extension {prefix} (from its OpenAPI):\n\nUsage: symphony ext {prefix} <operation> [--<param> value …] [--body @file|-|JSON] [--table]\n\n"
    );
    let width = ops.iter().map(|o| o.name.len()).max().unwrap_or(0);
    for op in ops {
        let _ = writeln!(
            out,
            "  {:width$}  {} {}{}",
            op.name,
            op.method,
            op.path,
            if op.summary.is_empty() {
                String::new()
            } else {
                format!("  {}", op.summary)
            }
        );
    }
    out.push_str(&format!(
        "\n`symphony ext {prefix} <operation> --help` shows an operation's parameters.\n"
    ));
    out
}

/// `symphony ext <prefix> <operation> --help`.
pub fn operation_help(prefix: &str, op: &Operation) -> String {
    let mut out = format!(
        "{} {}{}\n",
        op.method,
        BASE,
        &format!("{prefix}{}", op.path)
    );
    for line in [&op.summary, &op.description] {
        if !line.is_empty() {
            let _ = writeln!(out, "\n{line}");
        }
    }
    let _ = write!(out, "\nUsage: symphony ext {prefix} {}", op.name);
    for p in &op.params {
        if p.required {
            let _ = write!(out, " --{} <value>", p.name);
        }
    }
    out.push_str(" [options]\n\nOptions:\n");
    for p in &op.params {
        let place = match p.location {
            Location::Path => "path",
            Location::Query => "query",
            Location::Header => "header",
        };
        let _ = writeln!(
            out,
            "  --{} <value>  ({place}{}){}",
            p.name,
            if p.required { ", required" } else { "" },
            if p.description.is_empty() {
                String::new()
            } else {
                format!(" {}", p.description)
            }
        );
    }
    if let Some(required) = op.body {
        let _ = writeln!(
            out,
            "  --body @file|-|JSON  the request body{}",
            if required { " (required)" } else { "" }
        );
    }
    out.push_str("  --table  print a JSON answer as a table\n");
    out
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn render_rows(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(header);
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// A JSON answer as a table: an array of objects by column (keys in order of first appearance), an
/// object as key/value rows, anything else as its JSON.
pub fn table(v: &Value) -> String {
    match v {
        Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
            let mut columns: Vec<String> = Vec::new();
            for item in items {
                for k in item.as_object().into_iter().flat_map(|o| o.keys()) {
                    if !columns.contains(k) {
                        columns.push(k.clone());
                    }
                }
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|item| {
                    columns
                        .iter()
                        .map(|c| item.get(c).map(cell).unwrap_or_default())
                        .collect()
                })
                .collect();
            render_rows(&columns, &rows)
        }
        Value::Array(items) => items.iter().map(|i| cell(i) + "\n").collect(),
        Value::Object(map) => {
            let rows: Vec<Vec<String>> =
                map.iter().map(|(k, v)| vec![k.clone(), cell(v)]).collect();
            render_rows(&["key".to_owned(), "value".to_owned()], &rows)
        }
        other => cell(other) + "\n",
    }
}

fn read_body(source: &BodySource) -> anyhow::Result<Option<Vec<u8>>> {
    Ok(match source {
        BodySource::None => None,
        BodySource::Inline(s) => Some(s.clone().into_bytes()),
        BodySource::File(path) => {
            Some(std::fs::read(path).with_context(|| format!("cannot read the body file {path}"))?)
        }
        BodySource::Stdin => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                .context("cannot read the body from stdin")?;
            Some(buf)
        }
    })
}

pub async fn run(args: ExtArgs) -> anyhow::Result<()> {
    let client = ApiClient::signed_in(&args.remote)?;
    let doc: Value = client
        .call(Method::GET, "/openapi.json", None, "reading the API")
        .await?;
    let Some(prefix) = args.prefix.as_deref().filter(|p| !p.starts_with('-')) else {
        let found = extensions(&doc);
        let mut out = String::from(
            "Usage: symphony ext <prefix> <operation> [--<param> value …] [--body @file|-|JSON] [--table]\n\nExtensions with commands:\n",
        );
        if found.is_empty() {
            out.push_str("  (none: no running extension publishes an OpenAPI document)\n");
        }
        for (prefix, n) in found {
            let _ = writeln!(out, "  {prefix}  ({n} paths)");
        }
        print!("{out}");
        return Ok(());
    };
    let ops = operations(&doc, prefix);
    if ops.is_empty() {
        bail!(
            "extension {prefix:?} has no commands: it is not running or publishes no OpenAPI document (see `symphony ext`)"
        );
    }
    let Some((name, rest)) = args.args.split_first().filter(|(n, _)| !n.starts_with('-')) else {
        print!("{}", prefix_help(prefix, &ops));
        return Ok(());
    };
    let op = ops.iter().find(|o| &o.name == name).ok_or_else(|| {
        anyhow!(
            "extension {prefix:?} has no operation {name:?}; its operations: {}",
            ops.iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let call = invocation(prefix, op, rest)?;
    if call.help {
        print!("{}", operation_help(prefix, op));
        return Ok(());
    }
    let method = Method::from_bytes(op.method.as_bytes()).context("the operation's method")?;
    let body = read_body(&call.body)?;
    let (content_type, bytes) = client
        .raw(
            method,
            &call.path,
            &call.headers,
            body,
            &format!("{} {}", op.method, op.path),
        )
        .await?;
    let json = content_type.starts_with("application/json") || content_type.contains("+json");
    match (json, serde_json::from_slice::<Value>(&bytes)) {
        (true, Ok(value)) if call.table => print!("{}", table(&value)),
        (true, Ok(value)) => println!("{}", serde_json::to_string_pretty(&value)?),
        _ => {
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"paths": {
            "/api/v1/ping": {"get": {}},
            "/api/v1/extension/shop/items/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": true, "description": "the item"}],
                "get": {"operationId": "get_item", "summary": "One item",
                        "parameters": [{"$ref": "#/components/parameters/shop.Verbose"}]},
                "delete": {"summary": "Remove it"}
            },
            "/api/v1/extension/shop/items": {
                "get": {"x-symphony-endpoint": "cirata.extensions.shop.list"},
                "post": {"operationId": "add", "requestBody": {"required": true}}
            },
            "/api/v1/extension/other/x": {"get": {"operationId": "x"}}
        },
        "components": {"parameters": {"shop.Verbose": {"name": "verbose", "in": "query"}}}})
    }

    fn names(ops: &[Operation]) -> Vec<(&str, &str)> {
        ops.iter()
            .map(|o| (o.name.as_str(), o.method.as_str()))
            .collect()
    }

    #[test]
    fn operations_are_named_like_the_gateway_maps_them() {
        let ops = operations(&doc(), "shop");
        assert_eq!(
            names(&ops),
            vec![
                ("add", "POST"),
                ("get_item", "GET"),
                ("items", "DELETE"),
                ("list", "GET")
            ]
        );
        let mut twice = doc();
        twice["paths"]["/api/v1/extension/shop/old/items"] = json!({"get": {}});
        let twice = operations(&twice, "shop");
        assert!(
            names(&twice).contains(&("items-delete", "DELETE"))
                && names(&twice).contains(&("items-get", "GET")),
            "{:?}",
            names(&twice)
        );
        let by_name: BTreeMap<_, _> = ops.iter().map(|o| (o.name.as_str(), o)).collect();
        assert_eq!(by_name["get_item"].path, "/items/{id}");
        assert_eq!(
            by_name["list"].method, "GET",
            "x-symphony-endpoint's last token"
        );
        assert_eq!(
            by_name["items"].method, "DELETE",
            "the last literal segment"
        );
        assert_eq!(by_name["add"].body, Some(true));
        let params: Vec<_> = by_name["get_item"]
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.location, p.required))
            .collect();
        assert_eq!(
            params,
            vec![
                ("id", Location::Path, true),
                ("verbose", Location::Query, false)
            ]
        );
        assert_eq!(
            extensions(&doc()),
            BTreeMap::from([("other".to_owned(), 1), ("shop".to_owned(), 2)])
        );
    }

    #[test]
    fn arguments_fill_the_path_and_query_and_bad_ones_are_clear_errors() {
        let ops = operations(&doc(), "shop");
        let get = ops.iter().find(|o| o.name == "get_item").unwrap();
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let call = invocation(
            "shop",
            get,
            &args(&["--id", "a b/c", "--verbose=1", "--table"]),
        )
        .unwrap();
        assert_eq!(call.path, "/extension/shop/items/a%20b%2Fc?verbose=1");
        assert!(call.table && !call.help);
        let err = invocation("shop", get, &args(&[])).unwrap_err().to_string();
        assert!(err.contains("needs --id"), "{err}");
        let err = invocation("shop", get, &args(&["--id", "1", "--colour", "red"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no parameter --colour") && err.contains("--verbose"),
            "{err}"
        );
        let err = invocation("shop", get, &args(&["--id"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--id needs a value"), "{err}");
        assert!(invocation("shop", get, &args(&["--help"])).unwrap().help);
        let add = ops.iter().find(|o| o.name == "add").unwrap();
        let err = invocation("shop", add, &args(&[])).unwrap_err().to_string();
        assert!(err.contains("needs a request body"), "{err}");
        let call = invocation("shop", add, &args(&["--body", "@item.json"])).unwrap();
        assert_eq!(call.body, BodySource::File("item.json".into()));
        let help = operation_help("shop", get);
        assert!(
            help.contains("--id <value>  (path, required) the item"),
            "{help}"
        );
        assert!(prefix_help("shop", &ops).contains("get_item"));
    }

    #[test]
    fn json_answers_print_as_tables() {
        let rows = json!([{"id": "a", "price": 2}, {"id": "bb", "name": "Bee"}]);
        assert_eq!(table(&rows), "id  price  name\na   2\nbb         Bee\n");
        assert_eq!(
            table(&json!({"status": "created", "id": 7})),
            "key     value\nid      7\nstatus  created\n"
        );
        assert_eq!(table(&json!(["x", 1])), "x\n1\n");
    }
}
