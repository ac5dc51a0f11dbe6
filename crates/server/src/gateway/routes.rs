//! The gateway's lookup table: each extension's compiled routes (`symphony_protocol::routes`) in a
//! path router, answering "which endpoint serves `METHOD /path`?".

use std::collections::BTreeMap;

use serde_json::Value;
use symphony_protocol::routes::RouteTable;
pub use symphony_protocol::routes::{Operation, compile};

/// The result of looking up a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    Found {
        operation: &'a Operation,
        params: Vec<(String, String)>,
    },
    MethodNotAllowed {
        allow: Vec<String>,
    },
    NotFound,
}

/// Every route of one extension, ready for lookups.
pub struct ExtensionRoutes {
    pub prefix: String,
    pub name: String,
    router: matchit::Router<usize>,
    /// Per path template: method → operation.
    paths: Vec<BTreeMap<String, Operation>>,
    /// The service proxy: `/<endpoint>` → endpoints in the extension's own group (GET or POST).
    direct: BTreeMap<String, Operation>,
    /// The parsed OpenAPI documents, one per service that has one.
    pub documents: Vec<Value>,
}

impl std::fmt::Debug for ExtensionRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtensionRoutes")
            .field("prefix", &self.prefix)
            .field("paths", &self.paths)
            .finish()
    }
}

impl ExtensionRoutes {
    /// The lookup table of a compiled route table. `compile` already refused templates the router
    /// cannot hold, so this fails only if the two disagree.
    pub fn new(table: RouteTable) -> Result<ExtensionRoutes, matchit::InsertError> {
        let mut router = matchit::Router::new();
        let mut paths = Vec::with_capacity(table.paths.len());
        for (index, (template, operations)) in table.paths.into_iter().enumerate() {
            router.insert(template, index)?;
            paths.push(operations);
        }
        Ok(ExtensionRoutes {
            prefix: table.prefix,
            name: table.name,
            router,
            paths,
            direct: table.direct,
            documents: table.documents,
        })
    }

    /// Finds the operation for `method` and `path` (relative to the extension's base, starting with `/`).
    pub fn lookup(&self, method: &str, path: &str) -> Lookup<'_> {
        let Ok(matched) = self.router.at(path) else {
            return self.lookup_direct(method, path);
        };
        let ops = &self.paths[*matched.value];
        match ops.get(method) {
            Some(operation) => Lookup::Found {
                operation,
                params: matched
                    .params
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            },
            None => Lookup::MethodNotAllowed {
                allow: ops.keys().cloned().collect(),
            },
        }
    }

    /// The service proxy: `GET|POST /<endpoint>` reaches `cirata.extensions.<prefix>.<endpoint>`.
    fn lookup_direct(&self, method: &str, path: &str) -> Lookup<'_> {
        let Some(operation) = path
            .strip_prefix('/')
            .and_then(|name| self.direct.get(name))
        else {
            return Lookup::NotFound;
        };
        match method {
            "GET" | "POST" => Lookup::Found {
                operation,
                params: vec![],
            },
            _ => Lookup::MethodNotAllowed {
                allow: vec!["GET".into(), "POST".into()],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;
    use symphony_protocol::manifest::Manifest;

    /// The catalog's three endpoints, with `openapi` as the service's metadata when given.
    fn routes(openapi: Value, with_metadata: bool) -> ExtensionRoutes {
        let metadata = if with_metadata {
            json!({"openapi": openapi.to_string()})
        } else {
            json!({})
        };
        let endpoints: Vec<Value> = ["list", "add", "get"]
            .iter()
            .map(|n| json!({"name": n, "subject": format!("cirata.extensions.catalog.{n}")}))
            .collect();
        let manifest: Manifest = serde_json::from_value(json!({
            "manifest_version": 1, "name": "Catalog", "prefix": "catalog",
            "endpoints": [{"service": "catalog", "version": "1.0.0", "metadata": metadata,
                           "endpoints": endpoints}]
        }))
        .unwrap();
        ExtensionRoutes::new(compile(&manifest).unwrap().unwrap()).unwrap()
    }

    fn spec() -> Value {
        json!({"openapi":"3.1.0","paths":{
            "/items": {"get": {"operationId":"list"}, "post": {"x-symphony-endpoint":"add", "x-symphony-timeout":"2s"}},
            "/items/{id}": {"get": {"operationId":"get", "x-symphony-timeout": 250}, "parameters": []}
        }})
    }

    #[test]
    fn operations_map_to_endpoint_subjects() {
        let routes = routes(spec(), true);
        match routes.lookup("GET", "/items/42") {
            Lookup::Found { operation, params } => {
                assert_eq!(operation.subject, "cirata.extensions.catalog.get");
                assert_eq!(operation.timeout, Some(Duration::from_millis(250)));
                assert_eq!(params, vec![("id".to_owned(), "42".to_owned())]);
            }
            other => panic!("{other:?}"),
        }
        match routes.lookup("POST", "/items") {
            Lookup::Found { operation, .. } => {
                assert_eq!(operation.subject, "cirata.extensions.catalog.add");
                assert_eq!(operation.timeout, Some(Duration::from_secs(2)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            routes.lookup("DELETE", "/items"),
            Lookup::MethodNotAllowed {
                allow: vec!["GET".into(), "POST".into()]
            }
        );
        assert_eq!(routes.lookup("GET", "/nope"), Lookup::NotFound);
    }

    #[test]
    fn endpoints_without_openapi_are_reachable_through_the_service_proxy() {
        let routes = routes(spec(), false);
        match routes.lookup("POST", "/add") {
            Lookup::Found { operation, params } => {
                assert_eq!(operation.subject, "cirata.extensions.catalog.add");
                assert!(params.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            routes.lookup("DELETE", "/add"),
            Lookup::MethodNotAllowed { .. }
        ));
        assert_eq!(routes.lookup("GET", "/add/x"), Lookup::NotFound);
    }

    #[test]
    fn openapi_routes_win_over_the_service_proxy() {
        let routes = routes(
            json!({"paths":{"/list":{"get":{"operationId":"get"}}}}),
            true,
        );
        match routes.lookup("GET", "/list") {
            Lookup::Found { operation, .. } => {
                assert_eq!(operation.subject, "cirata.extensions.catalog.get")
            }
            other => panic!("{other:?}"),
        }
    }
}
