//! Calls from the page to the server's JSON API. They run in the browser only:
//! on the server the page renders its loading state and hydration fills it in.

use leptos::prelude::*;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

/// GETs `url` and decodes its JSON body, turning every failure into a readable message.
pub async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, String> {
    decode(url, &send(Method::Get, url, None).await?)
}

/// PUTs `body` as JSON to `url` and decodes the answer; a 4xx/5xx becomes
/// the server's error message.
pub async fn put_json<B: serde::Serialize, T: DeserializeOwned>(
    url: &str,
    body: &B,
) -> Result<T, String> {
    let body = serde_json::to_string(body).map_err(|e| format!("{url}: {e}"))?;
    decode(url, &send(Method::Put, url, Some(body)).await?)
}

/// POSTs to `url` without a body (an action such as "compact now") and
/// decodes the answer.
pub async fn post_action<T: DeserializeOwned>(url: &str) -> Result<T, String> {
    decode(url, &send(Method::Post, url, None).await?)
}

fn decode<T: DeserializeOwned>(url: &str, body: &str) -> Result<T, String> {
    serde_json::from_str(body).map_err(|e| format!("{url}: {e}"))
}

#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Method {
    Get,
    Put,
    Post,
}

/// Sends one request and returns the body of a 2xx answer. A 4xx/5xx becomes
/// the `error` the server gave (TinyObs's `/v1` API and Prometheus's both say
/// why there), else its status.
///
/// Not generic, on purpose: the request code exists once in the WASM, and each
/// answer type adds only its JSON decoding.
async fn send(method: Method, url: &str, json_body: Option<String>) -> Result<String, String> {
    #[cfg(feature = "hydrate")]
    {
        use gloo_net::http::Request;
        let builder = match method {
            Method::Get => Request::get(url),
            Method::Put => Request::put(url),
            Method::Post => Request::post(url),
        };
        let request = match json_body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(body),
            None => builder.build(),
        };
        let response = request
            .map_err(|e| format!("{url}: {e}"))?
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| format!("{url}: {e}"));
        if !response.ok() {
            let why = text
                .ok()
                .and_then(|t| serde_json::from_str::<crate::model::ApiError>(&t).ok());
            return Err(why.map_or_else(|| format!("{url}: HTTP {status}"), |e| e.error));
        }
        text
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (method, json_body);
        Err(format!("{url}: only fetched in the browser"))
    }
}

/// What a loaded value holds, picked by `pick`; the default while it
/// loads or if it failed (the failure is shown elsewhere).
pub fn loaded_or_default<T, U: Default>(
    value: Option<Result<T, String>>,
    pick: impl FnOnce(T) -> U,
) -> U {
    value.and_then(Result::ok).map_or_else(U::default, pick)
}

/// A value loaded from the server in the browser, loaded again whenever a
/// signal that `load` reads (before its first `.await`) changes. `get()` is
/// `None` until the first answer and then keeps the latest answer while the
/// next one loads, so live charts never blank out; an answer that arrives
/// after a newer load started is dropped.
///
/// This is what the page used `LocalResource` for. Leptos's async-derived
/// machinery is compiled anew for every call site's future type, which made
/// up about 8 % of the WASM bundle; here the loader is boxed, so each value
/// type costs one small effect.
pub struct Fetched<T: Send + Sync + 'static> {
    value: RwSignal<Option<T>>,
}

impl<T: Send + Sync + 'static> Clone for Fetched<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Fetched<T> {}

type Loader<T> = Box<dyn Fn() -> Pin<Box<dyn Future<Output = T>>>>;

impl<T: Clone + Send + Sync + 'static> Fetched<T> {
    pub fn new<F: Future<Output = T> + 'static>(load: impl Fn() -> F + 'static) -> Self {
        Self::boxed(Box::new(move || Box::pin(load())))
    }

    fn boxed(load: Loader<T>) -> Self {
        let value = RwSignal::new(None);
        let latest = StoredValue::new(0u64);
        // Effects run in the browser only, after hydration, as resources do.
        Effect::new(move |_| {
            let answer = load();
            latest.update_value(|n| *n += 1);
            let this = latest.get_value();
            leptos::task::spawn_local(async move {
                let answer = answer.await;
                if latest.try_get_value() == Some(this) {
                    value.try_set(Some(answer));
                }
            });
        });
        Self { value }
    }

    /// The latest answer (tracked), `None` before the first.
    pub fn get(&self) -> Option<T> {
        self.value.get()
    }
}

/// Offers `text` as a file download.
pub fn download(name: &str, mime: &str, text: &str) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
        let options = web_sys::BlobPropertyBag::new();
        options.set_type(mime);
        let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
            return;
        };
        let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
            return;
        };
        let anchor = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.create_element("a").ok())
            .and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok());
        if let Some(a) = anchor {
            a.set_href(&url);
            a.set_download(name);
            a.click();
        }
        let _ = web_sys::Url::revoke_object_url(&url);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (name, mime, text);
}

/// A PromQL string literal: `"` and `\` escaped, so any label value is safe.
pub fn promql_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Escapes regex syntax so that `value` matches only itself.
pub fn regex_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A selector `{a="x",b=~"y|z"}` keeping series whose label `name` has one
/// of the listed values; an empty list does not filter.
pub fn selector<'a>(filters: impl IntoIterator<Item = (&'a str, &'a [String])>) -> String {
    let parts: Vec<String> = filters
        .into_iter()
        .filter(|(_, values)| !values.is_empty())
        .map(|(name, values)| match values {
            [one] => format!("{name}={}", promql_quote(one)),
            many => {
                let alternatives: Vec<String> = many.iter().map(|v| regex_escape(v)).collect();
                format!("{name}=~{}", promql_quote(&alternatives.join("|")))
            }
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// Percent-encodes a query parameter value.
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_quote_and_escape_any_value() {
        let one = ["a\"b\\c".to_string()];
        let many = ["/users".to_string(), "/a.b(c)".to_string()];
        assert_eq!(
            selector([
                ("service", &one[..]),
                ("endpoint", &many[..]),
                ("x", &[][..])
            ]),
            r#"{service="a\"b\\c",endpoint=~"/users|/a\\.b\\(c\\)"}"#
        );
        assert_eq!(selector([]), "{}");
    }

    #[test]
    fn url_values_are_percent_encoded() {
        assert_eq!(url_encode(r#"{a="b c"}"#), "%7Ba%3D%22b%20c%22%7D");
        assert_eq!(url_encode("é"), "%C3%A9");
    }
}
