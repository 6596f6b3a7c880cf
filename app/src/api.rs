//! Calls from the page to the server's JSON API. They run in the browser only:
//! on the server the page renders its loading state and hydration fills it in.

use serde::de::DeserializeOwned;

/// GETs `url` and decodes its JSON body, turning every failure into a readable message.
pub async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, String> {
    #[cfg(feature = "hydrate")]
    {
        let response = gloo_net::http::Request::get(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !response.ok() {
            // Both TinyObs's API and Prometheus's say why in `error`.
            let status = response.status();
            let why = response
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string));
            return Err(why.unwrap_or_else(|| format!("{url}: HTTP {status}")));
        }
        response
            .json::<T>()
            .await
            .map_err(|e| format!("{url}: {e}"))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        Err(format!("{url}: only fetched in the browser"))
    }
}

/// What a loaded resource holds, picked by `pick`; the default while it
/// loads or if it failed (the failure is shown elsewhere).
pub fn loaded_or_default<T, U: Default>(
    value: Option<Result<T, String>>,
    pick: impl FnOnce(T) -> U,
) -> U {
    value.and_then(Result::ok).map_or_else(U::default, pick)
}

/// PUTs `body` as JSON to `url` and decodes the answer; a 4xx/5xx becomes
/// the server's error message.
pub async fn put_json<B: serde::Serialize, T: DeserializeOwned>(
    url: &str,
    body: &B,
) -> Result<T, String> {
    #[cfg(feature = "hydrate")]
    {
        let response = gloo_net::http::Request::put(url)
            .json(body)
            .map_err(|e| format!("{url}: {e}"))?
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        decode_answer(url, response).await
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = body;
        Err(format!("{url}: only sent from the browser"))
    }
}

/// POSTs to `url` without a body (an action such as "compact now") and
/// decodes the answer.
pub async fn post_action<T: DeserializeOwned>(url: &str) -> Result<T, String> {
    #[cfg(feature = "hydrate")]
    {
        let response = gloo_net::http::Request::post(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        decode_answer(url, response).await
    }
    #[cfg(not(feature = "hydrate"))]
    {
        Err(format!("{url}: only sent from the browser"))
    }
}

/// The JSON of a successful answer, or the server's error message.
#[cfg(feature = "hydrate")]
async fn decode_answer<T: DeserializeOwned>(
    url: &str,
    response: gloo_net::http::Response,
) -> Result<T, String> {
    if !response.ok() {
        let status = response.status();
        let message = response
            .json::<crate::model::ApiError>()
            .await
            .map_or_else(|_| format!("HTTP {status}"), |e| e.error);
        return Err(message);
    }
    response
        .json::<T>()
        .await
        .map_err(|e| format!("{url}: {e}"))
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
