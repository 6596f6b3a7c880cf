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
            return Err(format!("{url}: HTTP {}", response.status()));
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
