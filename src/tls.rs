//! Outgoing HTTPS. Every HTTP client the agent builds uses rustls with the
//! `ring` crypto provider and the system's certificate store.

/// A reqwest client builder whose TLS uses the ring provider.
pub fn http_client() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}

/// Makes ring the process's rustls provider. Only the first call acts.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means a provider is already installed, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
