//! The reference server's discovery document (draft-payment-discovery-00):
//! `GET /openapi.json`, an OpenAPI 3.1 document listing every route with
//! one `x-payment-info` offer per route, taken from the same request the
//! route's challenges carry, so that each offer is the live challenge.
//! The `discovery-*` deviations each break one rule of the draft.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mppconf_suite::discovery::DOCUMENT_PATH;
use serde_json::{Map, Value, json};

use super::{Deviation, RouteConfig, ServerConfig};

/// Where `discovery-elsewhere` serves the document instead.
pub const ELSEWHERE_PATH: &str = "/.well-known/openapi.json";

/// The path the document is served at under these deviations.
pub fn path(deviates: impl Fn(Deviation) -> bool) -> &'static str {
    if deviates(Deviation::DiscoveryElsewhere) {
        ELSEWHERE_PATH
    } else {
        DOCUMENT_PATH
    }
}

/// The document's answer: JSON, cacheable for five minutes (§"Caching").
pub fn answer(config: &ServerConfig, deviates: impl Fn(Deviation) -> bool) -> Response {
    let body = document(config, &deviates).to_string();
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    let content_type = if deviates(Deviation::DiscoveryTextPlain) {
        "text/plain"
    } else {
        "application/json"
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if !deviates(Deviation::DiscoveryNoCacheControl) {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=300"),
        );
    }
    response
}

/// The document: every route, its offer the route's own request.
pub fn document(config: &ServerConfig, deviates: &impl Fn(Deviation) -> bool) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for route in &config.routes {
        let operation = operation(route, config.chain_id, deviates);
        paths
            .entry(route.path.clone())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("a path item is an object")
            .insert(route.method.to_ascii_lowercase(), operation);
    }
    let homepage = if deviates(Deviation::DiscoveryBadDocsUri) {
        "the mppconf reference server"
    } else {
        "https://mppconf.invalid/reference-server"
    };
    let category = if deviates(Deviation::DiscoveryUppercaseCategories) {
        "Developer Tools"
    } else {
        "developer-tools"
    };
    let title = if deviates(Deviation::DiscoveryNoTitle) {
        ""
    } else {
        config.realm.as_str()
    };
    json!({
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0.0"},
        "x-service-info": {
            "categories": [category],
            "docs": {"homepage": homepage},
        },
        "paths": paths,
    })
}

fn operation(route: &RouteConfig, chain_id: u64, deviates: &impl Fn(Deviation) -> bool) -> Value {
    let request = route.request(chain_id);
    let mut amount = request["amount"].as_str().unwrap_or_default().to_string();
    if deviates(Deviation::DiscoveryWrongAmount) {
        amount = alloy::primitives::U256::from_str_radix(&amount, 10)
            .map(|a| (a + alloy::primitives::U256::from(1)).to_string())
            .unwrap_or(amount);
    }
    if deviates(Deviation::DiscoveryBadAmount) {
        amount = format!("0{amount}");
    }
    let offer = json!({
        "intent": route.intent(),
        "method": route.payment_method,
        "amount": amount,
        "currency": request["currency"],
    });
    let payment_info = if deviates(Deviation::DiscoveryShorthand) {
        offer
    } else {
        json!({"offers": [offer]})
    };
    let mut responses = json!({"200": {"description": "The paid resource"}});
    if !deviates(Deviation::DiscoveryNo402) {
        responses["402"] = json!({"description": "Payment Required"});
    }
    let mut op = json!({
        "summary": format!("{} {}", route.method, route.path),
        "responses": responses,
    });
    // An offer's intent is "charge" or "session" (§"x-payment-info"):
    // a subscription cannot be declared (ambiguity.discovery-intent-closed),
    // so its operation shows only the 402.
    if !deviates(Deviation::DiscoveryNoPaymentInfo) && route.subscription.is_none() {
        op["x-payment-info"] = payment_info;
    }
    let takes_body = ["POST", "PUT", "PATCH"].contains(&route.method.to_ascii_uppercase().as_str());
    if takes_body && !deviates(Deviation::DiscoveryNoRequestBody) {
        op["requestBody"] = json!({
            "content": {"application/json": {"schema": {"type": "object"}}}
        });
    }
    op
}
