//! Compiles the OpenAPI documents in an extension's endpoint metadata into a route table
//! (docs/protocol.md §7.1). Registration rejects a manifest whose routes do not compile; the gateway
//! builds its lookup table from the result. Pure: unit tests reach it without a server.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::manifest::{Manifest, ServiceSpec};
use crate::{ErrorBody, ErrorCode};

/// HTTP methods an OpenAPI path item may define.
pub const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One routable operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Upper-case HTTP method (`*` for the service proxy).
    pub method: String,
    /// The OpenAPI path template, relative to `/api/v1/extension/<prefix>`.
    pub template: String,
    /// NATS subject of the endpoint that serves it.
    pub subject: String,
    /// Per-route timeout (`x-symphony-timeout`), else the gateway default.
    pub timeout: Option<Duration>,
}

/// Every route of one extension, plus the OpenAPI documents they came from.
#[derive(Debug, Clone)]
pub struct RouteTable {
    pub prefix: String,
    pub name: String,
    /// Path templates in declaration order, each with its operations by method.
    pub paths: Vec<(String, BTreeMap<String, Operation>)>,
    /// The service proxy: `/<endpoint>` → endpoints in the extension's own group (GET or POST).
    pub direct: BTreeMap<String, Operation>,
    /// The parsed OpenAPI documents, one per service that has one.
    pub documents: Vec<Value>,
    /// Operations no endpoint could be found for: not routed, shown in the extension's view.
    pub warnings: Vec<String>,
}

fn invalid(service: &str, message: String) -> ErrorBody {
    ErrorBody::new(ErrorCode::InvalidOpenapi, format!("service {service:?}: {message}"))
        .with_hint("see docs/protocol.md §7.1: an operation names its endpoint with x-symphony-endpoint, its operationId or its last path segment")
}

/// Parses `x-symphony-timeout`: a duration string (`"5s"`, `"250ms"`) or a number of milliseconds.
fn parse_timeout(v: &Value) -> Option<Result<Duration, String>> {
    match v {
        Value::Null => None,
        Value::Number(n) => Some(
            n.as_u64()
                .map(Duration::from_millis)
                .ok_or_else(|| format!("{n} is not a whole number of ms")),
        ),
        Value::String(s) => Some(humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))),
        other => Some(Err(format!(
            "{other} is neither a duration string nor milliseconds"
        ))),
    }
}

/// How an operation found its endpoint, or why it found none.
enum Mapping {
    Subject(String),
    /// No rule names an endpoint: the operation is left out, with this reason as a warning.
    Unmapped(String),
}

/// The last path segment of `template` that is not a `{parameter}` (`/items/{id}` → `items`): the
/// endpoint an operation without a name maps to, and its command name in `symphony ext`.
pub fn last_literal_segment(template: &str) -> Option<&str> {
    template.split('/').rev().find(|s| {
        let parameter = s.starts_with('{') && s.ends_with('}');
        !s.is_empty() && !parameter
    })
}

/// Resolves the endpoint an operation names: `x-symphony-endpoint` (an error when it names none),
/// else an `operationId` equal to an endpoint name, else the last literal path segment equal to one.
fn endpoint_subject(service: &ServiceSpec, template: &str, op: &Value) -> Result<Mapping, String> {
    let names: Vec<&str> = service.endpoints.iter().map(|e| e.name.as_str()).collect();
    let by_name = |name: &str| {
        service
            .endpoints
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.subject.clone())
    };
    if let Some(target) = op.get("x-symphony-endpoint") {
        let target = target
            .as_str()
            .ok_or("x-symphony-endpoint is not a string")?;
        return by_name(target)
            .or_else(|| service.endpoints.iter().find(|e| e.subject == target).map(|e| e.subject.clone()))
            .map(Mapping::Subject)
            .ok_or_else(|| format!("x-symphony-endpoint {target:?} is not an endpoint of the service (endpoints: {})", names.join(", ")));
    }
    let operation_id = op.get("operationId").and_then(Value::as_str);
    let found = operation_id
        .and_then(by_name)
        .or_else(|| last_literal_segment(template).and_then(by_name));
    Ok(match found {
        Some(subject) => Mapping::Subject(subject),
        None => Mapping::Unmapped(format!(
            "names no endpoint: neither x-symphony-endpoint, its operationId{} nor its last path segment is one of the service's endpoints ({}); it is not served",
            operation_id
                .map(|id| format!(" {id:?}"))
                .unwrap_or_default(),
            names.join(", ")
        )),
    })
}

/// Compiles every service of `manifest` that carries `metadata.openapi`. `Ok(None)`: no REST API.
pub fn compile(manifest: &Manifest) -> Result<Option<RouteTable>, ErrorBody> {
    let mut paths = PathTable::new();
    let mut documents = Vec::new();
    let mut warnings = Vec::new();
    for service in &manifest.endpoints {
        let Some(doc) = openapi_document(service)? else {
            continue;
        };
        add_document_paths(&mut paths, service, &doc, &mut warnings)?;
        documents.push(doc);
    }
    let direct = direct_routes(manifest);
    if paths.paths.is_empty() && direct.is_empty() {
        return Ok(None);
    }
    Ok(Some(RouteTable {
        prefix: manifest.prefix.clone(),
        name: manifest.name.clone(),
        paths: paths.paths,
        direct,
        documents,
        warnings,
    }))
}

/// The service's `metadata.openapi` document (JSON or YAML), parsed; `Ok(None)` if it has none.
fn openapi_document(service: &ServiceSpec) -> Result<Option<Value>, ErrorBody> {
    let Some(text) = service.metadata.get("openapi") else {
        return Ok(None);
    };
    let doc = match serde_json::from_str::<Value>(text) {
        Ok(doc) => doc,
        // Not JSON: YAML (a JSON document that is merely broken is reported as YAML's error too,
        // since JSON is YAML). serde_norway refuses alias bombs and deep recursion.
        Err(json) => serde_norway::from_str::<Value>(text).map_err(|yaml| {
            invalid(
                &service.service,
                format!(
                    "metadata.openapi is neither a JSON nor a YAML OpenAPI document (JSON: {json}; YAML: {yaml})"
                ),
            )
        })?,
    };
    if !doc.is_object() {
        return Err(invalid(
            &service.service,
            "metadata.openapi is not an OpenAPI document (not an object)".into(),
        ));
    }
    Ok(Some(doc))
}

/// Adds every operation of one service's OpenAPI document to `paths`.
fn add_document_paths(
    paths: &mut PathTable,
    service: &ServiceSpec,
    doc: &Value,
    warnings: &mut Vec<String>,
) -> Result<(), ErrorBody> {
    let Some(spec_paths) = doc.get("paths").and_then(Value::as_object) else {
        return Err(invalid(
            &service.service,
            "the OpenAPI document has no `paths` object".into(),
        ));
    };
    for (template, item) in spec_paths {
        if !template.starts_with('/') {
            return Err(invalid(
                &service.service,
                format!("path {template:?} must start with /"),
            ));
        }
        let item = item.as_object().ok_or_else(|| {
            invalid(
                &service.service,
                format!("path {template:?} is not an object"),
            )
        })?;
        for (method, op) in item.iter().filter(|(k, _)| METHODS.contains(&k.as_str())) {
            match operation(service, method, template, op)? {
                Ok(operation) => paths.add(service, operation)?,
                Err(warning) => warnings.push(format!("service {:?}: {warning}", service.service)),
            }
        }
    }
    Ok(())
}

/// One OpenAPI operation (`method` of path `template`) as a route: its endpoint and timeout;
/// `Ok(Err(warning))` when no endpoint serves it.
fn operation(
    service: &ServiceSpec,
    method: &str,
    template: &str,
    op: &Value,
) -> Result<Result<Operation, String>, ErrorBody> {
    let upper = method.to_ascii_uppercase();
    let where_ = format!("operation {upper} {template}");
    let subject = match endpoint_subject(service, template, op)
        .map_err(|why| invalid(&service.service, format!("{where_} {why}")))?
    {
        Mapping::Subject(subject) => subject,
        Mapping::Unmapped(why) => return Ok(Err(format!("{where_} {why}"))),
    };
    let timeout = match op.get("x-symphony-timeout").and_then(parse_timeout) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(why)) => {
            return Err(invalid(
                &service.service,
                format!("{where_}: x-symphony-timeout {why}"),
            ));
        }
    };
    Ok(Ok(Operation {
        method: upper,
        template: template.to_owned(),
        subject,
        timeout,
    }))
}

/// The service proxy: every endpoint directly in the extension's group, as `/<endpoint>`.
fn direct_routes(manifest: &Manifest) -> BTreeMap<String, Operation> {
    let group = format!("cirata.extensions.{}.", manifest.prefix);
    manifest
        .endpoints
        .iter()
        .flat_map(|s| &s.endpoints)
        .filter_map(|e| {
            let name = e
                .subject
                .strip_prefix(&group)
                .filter(|n| !n.contains('.') && !n.is_empty())?;
            let op = Operation {
                method: "*".into(),
                template: format!("/{name}"),
                subject: e.subject.clone(),
                timeout: None,
            };
            Some((name.to_owned(), op))
        })
        .collect()
}

/// Path templates in declaration order, each with its operations by method, across all services.
struct PathTable {
    /// Only to refuse templates the gateway's router cannot hold (conflicts, bad syntax).
    router: matchit::Router<usize>,
    paths: Vec<(String, BTreeMap<String, Operation>)>,
    index_of: BTreeMap<String, usize>,
}

impl PathTable {
    fn new() -> PathTable {
        PathTable {
            router: matchit::Router::new(),
            paths: Vec::new(),
            index_of: BTreeMap::new(),
        }
    }

    /// Adds `operation` under its template (new templates must route); one per method and template.
    fn add(&mut self, service: &ServiceSpec, operation: Operation) -> Result<(), ErrorBody> {
        let template = &operation.template;
        let idx = match self.index_of.get(template) {
            Some(i) => *i,
            None => {
                self.router
                    .insert(template.clone(), self.paths.len())
                    .map_err(|e| {
                        invalid(
                            &service.service,
                            format!("path {template:?} cannot be routed: {e}"),
                        )
                    })?;
                self.index_of.insert(template.clone(), self.paths.len());
                self.paths.push((template.clone(), BTreeMap::new()));
                self.paths.len() - 1
            }
        };
        let where_ = format!("operation {} {template}", operation.method);
        if self.paths[idx]
            .1
            .insert(operation.method.clone(), operation)
            .is_some()
        {
            return Err(invalid(
                &service.service,
                format!("{where_} is defined twice"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::EndpointSpec;
    use serde_json::json;

    fn manifest(openapi: Value) -> Manifest {
        let mut m: Manifest = serde_json::from_value(
            json!({"manifest_version":1,"name":"Catalog","prefix":"catalog"}),
        )
        .unwrap();
        m.endpoints.push(ServiceSpec {
            service: "catalog".into(),
            version: "1.0.0".into(),
            description: String::new(),
            metadata: [("openapi".to_owned(), openapi.to_string())].into(),
            endpoints: ["list", "add", "get"]
                .iter()
                .map(|n| EndpointSpec {
                    name: (*n).into(),
                    subject: format!("cirata.extensions.catalog.{n}"),
                })
                .collect(),
        });
        m
    }

    fn spec() -> Value {
        json!({"openapi":"3.1.0","paths":{
            "/items": {"get": {"operationId":"list"}, "post": {"x-symphony-endpoint":"add", "x-symphony-timeout":"2s"}},
            "/items/{id}": {"get": {"operationId":"get", "x-symphony-timeout": 250}, "parameters": []}
        }})
    }

    fn operation<'a>(table: &'a RouteTable, method: &str, template: &str) -> &'a Operation {
        let (_, ops) = table.paths.iter().find(|(t, _)| t == template).unwrap();
        &ops[method]
    }

    #[test]
    fn operations_map_to_endpoint_subjects() {
        let table = compile(&manifest(spec())).unwrap().unwrap();
        let get = operation(&table, "GET", "/items/{id}");
        assert_eq!(get.subject, "cirata.extensions.catalog.get");
        assert_eq!(get.timeout, Some(Duration::from_millis(250)));
        let add = operation(&table, "POST", "/items");
        assert_eq!(add.subject, "cirata.extensions.catalog.add");
        assert_eq!(add.timeout, Some(Duration::from_secs(2)));
        assert_eq!(operation(&table, "GET", "/items").timeout, None);
        assert_eq!(table.documents.len(), 1);
        assert_eq!(
            table.direct["list"].subject,
            "cirata.extensions.catalog.list"
        );
    }

    #[test]
    fn operations_without_a_name_map_by_their_last_path_segment() {
        // No x-symphony-endpoint, no operationId (or one naming nothing): the last literal segment.
        let doc = json!({"paths":{
            "/catalog/list": {"get": {}},
            "/add": {"post": {"operationId": "addItem"}},
            "/get/{id}": {"get": {"summary": "one item"}}
        }});
        let table = compile(&manifest(doc)).unwrap().unwrap();
        assert_eq!(
            operation(&table, "GET", "/catalog/list").subject,
            "cirata.extensions.catalog.list"
        );
        assert_eq!(
            operation(&table, "POST", "/add").subject,
            "cirata.extensions.catalog.add"
        );
        assert_eq!(
            operation(&table, "GET", "/get/{id}").subject,
            "cirata.extensions.catalog.get"
        );
        assert!(table.warnings.is_empty(), "{:?}", table.warnings);
    }

    #[test]
    fn operations_that_still_name_nothing_are_left_out_with_a_warning() {
        let doc = json!({"paths":{
            "/items": {"get": {"operationId":"list"}},
            "/x": {"get": {"operationId":"missing"}, "post": {}}
        }});
        let table = compile(&manifest(doc)).unwrap().unwrap();
        assert_eq!(
            operation(&table, "GET", "/items").subject,
            "cirata.extensions.catalog.list"
        );
        assert!(
            table.paths.iter().all(|(t, _)| t != "/x"),
            "{:?}",
            table.paths
        );
        assert_eq!(table.warnings.len(), 2, "{:?}", table.warnings);
        assert!(
            table.warnings[0].contains("GET /x") && table.warnings[0].contains("\"missing\""),
            "{:?}",
            table.warnings
        );
        assert!(
            table.warnings[1].contains("POST /x"),
            "{:?}",
            table.warnings
        );
    }

    #[test]
    fn explicit_mistakes_are_still_rejected_with_the_reason() {
        let bad = json!({"paths":{"/x":{"get":{"x-symphony-endpoint":"missing"}}}});
        let e = compile(&manifest(bad)).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidOpenapi);
        assert!(
            e.message.contains("GET /x") && e.message.contains("missing"),
            "{}",
            e.message
        );
        let timeout =
            json!({"paths":{"/x":{"get":{"operationId":"list","x-symphony-timeout":"soon"}}}});
        assert!(
            compile(&manifest(timeout))
                .unwrap_err()
                .message
                .contains("x-symphony-timeout")
        );
        let relative = json!({"paths":{"x":{"get":{"operationId":"list"}}}});
        assert!(
            compile(&manifest(relative))
                .unwrap_err()
                .message
                .contains("must start with /")
        );
        let conflict = json!({"paths":{"/x/{a}":{"get":{"operationId":"list"}},"/x/{b}":{"get":{"operationId":"get"}}}});
        assert!(
            compile(&manifest(conflict))
                .unwrap_err()
                .message
                .contains("cannot be routed")
        );
    }

    fn with_text(text: &str) -> Manifest {
        let mut m = manifest(json!({}));
        m.endpoints[0]
            .metadata
            .insert("openapi".into(), text.into());
        m
    }

    #[test]
    fn yaml_documents_are_accepted_like_json() {
        let yaml = "openapi: 3.1.0\npaths:\n  /items:\n    get:\n      operationId: list\n  /items/{id}:\n    get:\n      x-symphony-timeout: 250\n      operationId: get\n";
        let table = compile(&with_text(yaml)).unwrap().unwrap();
        assert_eq!(
            operation(&table, "GET", "/items").subject,
            "cirata.extensions.catalog.list"
        );
        let get = operation(&table, "GET", "/items/{id}");
        assert_eq!(get.timeout, Some(Duration::from_millis(250)));
        assert_eq!(table.documents[0]["openapi"], "3.1.0");
    }

    #[test]
    fn unparseable_scalar_and_pathless_documents_are_rejected() {
        for text in ["{not json: [", "just a string", "- a\n- list", "a: &x [*x]"] {
            let e = compile(&with_text(text)).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidOpenapi, "{text}: {e:?}");
        }
        assert!(compile(&manifest(json!({"openapi":"3.1.0"}))).is_err());
    }

    #[test]
    fn a_yaml_alias_bomb_is_refused_not_expanded() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (i, name) in ["b", "c", "d", "e", "f", "g", "h", "i", "j"]
            .iter()
            .enumerate()
        {
            let prev = ["a", "b", "c", "d", "e", "f", "g", "h", "i"][i];
            let refs = vec![format!("*{prev}"); 10].join(", ");
            bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        bomb.push_str("paths: {}\n");
        let e = compile(&with_text(&bomb)).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidOpenapi, "{e:?}");
    }

    #[test]
    fn a_manifest_without_endpoints_has_no_routes() {
        let mut m = manifest(spec());
        m.endpoints.clear();
        assert!(compile(&m).unwrap().is_none());
    }
}
