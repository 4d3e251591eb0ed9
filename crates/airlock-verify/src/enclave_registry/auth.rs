//! Authorization against the enclave registry: HTTP basic or a bearer token from the
//! registry's token service (`WWW-Authenticate: Bearer realm=...`), with credentials from
//! the docker config. The challenge is learnt from the first `401`; tokens are cached by
//! scope.

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::StatusCode;
use reqwest::Url;
use reqwest::header::AUTHORIZATION;

use super::transport::{Transport, small_body};
use crate::error::{Error, Result};

/// The largest token-service answer read. Registry tokens are JWTs of a few KiB; the bound
/// keeps a token service that answers without end from filling memory.
const MAX_TOKEN_ANSWER_BYTES: u64 = 1024 * 1024;

/// What one registry asked for and what it gave: its challenge, and bearer tokens by scope.
pub(super) struct Auth {
    host: String,
    credentials: Option<(String, String)>,
    /// Bearer tokens by scope, and the realm/service the registry asked for.
    tokens: Mutex<HashMap<String, String>>,
    challenge: Mutex<Option<Challenge>>,
}

#[derive(Debug, Clone)]
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

impl Auth {
    /// Authorization for `host`, with its credentials from the docker config (read now).
    pub(super) fn new(host: &str) -> Self {
        Auth {
            host: host.to_string(),
            credentials: docker_credentials(host),
            tokens: Mutex::new(HashMap::new()),
            challenge: Mutex::new(None),
        }
    }

    /// Send one request with whatever authorization the registry asked for; on a `401`
    /// learn the challenge, get credentials or a token, and send once more.
    pub(super) async fn send(
        &self,
        t: &Transport,
        target: &str,
        action: &'static str,
        scopes: &[String],
        mut build: impl FnMut() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let transport = |e| t.transport_error(target, action, e);
        let auth = self.authorization(t, target, scopes).await?;
        let mut req = build();
        if let Some(a) = &auth {
            req = req.header(AUTHORIZATION, a);
        }
        let resp = req.send().await.map_err(transport)?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let header = resp
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let Some(challenge) = header.as_deref().and_then(parse_challenge) else {
            return Err(self.auth_error(
                target,
                action,
                "answered 401 without a usable WWW-Authenticate challenge",
            ));
        };
        if auth.is_some() && matches!(challenge, Challenge::Basic) {
            return Err(self.auth_error(target, action, "refused the credentials"));
        }
        *lock(&self.challenge) = Some(challenge);
        lock(&self.tokens).remove(&scopes.join(" "));
        let auth = self.authorization(t, target, scopes).await?;
        let Some(auth) = auth else {
            return Err(self.auth_error(target, action, "requires credentials"));
        };
        // A second 401/403 goes back to the caller, which reports it (or, for a mount,
        // uploads instead).
        build()
            .header(AUTHORIZATION, auth)
            .send()
            .await
            .map_err(transport)
    }

    pub(super) fn auth_error(&self, target: &str, action: &'static str, what: &str) -> Error {
        let creds = match &self.credentials {
            Some((user, _)) => format!("user {user:?} from the docker config"),
            None => format!(
                "no credentials for {} in the docker config ($DOCKER_CONFIG/config.json; `docker login` writes it)",
                self.host
            ),
        };
        Error::Registry {
            target: target.to_string(),
            action,
            reason: format!("authentication: the registry {what} ({creds})"),
        }
    }

    /// The `Authorization` value to send, if the registry has asked for one.
    async fn authorization(
        &self,
        t: &Transport,
        target: &str,
        scopes: &[String],
    ) -> Result<Option<String>> {
        let challenge = lock(&self.challenge).clone();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.credentials.as_ref().map(|(u, p)| basic(u, p))),
            Some(Challenge::Bearer { realm, service }) => {
                let key = scopes.join(" ");
                if let Some(t) = lock(&self.tokens).get(&key) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let token = self
                    .fetch_token(t, target, &realm, service.as_deref(), scopes)
                    .await?;
                lock(&self.tokens).insert(key, token.clone());
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    async fn fetch_token(
        &self,
        t: &Transport,
        target: &str,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String> {
        let action = "get a token";
        let mut url = Url::parse(realm).map_err(|e| Error::Registry {
            target: target.to_string(),
            action,
            reason: format!("token realm {realm:?} is not a URL: {e}"),
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scopes {
                q.append_pair("scope", s);
            }
        }
        let mut req = t.http.get(url);
        if let Some((u, p)) = &self.credentials {
            req = req.header(AUTHORIZATION, basic(u, p));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| t.transport_error(target, action, e))?;
        if !resp.status().is_success() {
            return Err(self.auth_error(
                target,
                action,
                &format!("token service {realm} answered {}", resp.status()),
            ));
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = small_body(resp, MAX_TOKEN_ANSWER_BYTES, target.to_string(), action).await?;
        let t: TokenAnswer = serde_json::from_slice(&body).map_err(|e| Error::Registry {
            target: target.to_string(),
            action,
            reason: format!("token service {realm} answered something that is not a token: {e}"),
        })?;
        t.token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Registry {
                target: target.to_string(),
                action,
                reason: format!("token service {realm} answered without a token"),
            })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a token map half-written.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn pull(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

pub(super) fn push(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

fn basic(user: &str, pass: &str) -> String {
    use base64::Engine;
    let raw = format!("{user}:{pass}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Credentials for `host` from the docker config, if any.
fn docker_credentials(host: &str) -> Option<(String, String)> {
    match docker_credential::get_credential(host) {
        Ok(docker_credential::DockerCredential::UsernamePassword(u, p)) => Some((u, p)),
        // An identity token is exchanged at the token service as a password.
        Ok(docker_credential::DockerCredential::IdentityToken(t)) => {
            Some(("<token>".to_string(), t))
        }
        Err(_) => None,
    }
}

/// Parse `Basic realm=...` or `Bearer realm="...",service="...",scope="..."`.
fn parse_challenge(h: &str) -> Option<Challenge> {
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    for (k, v) in auth_params(rest) {
        match k.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(v),
            "service" => service = Some(v),
            _ => {}
        }
    }
    Some(Challenge::Bearer {
        realm: realm?,
        service,
    })
}

/// `key="value", key=value` pairs; quoted values may contain commas.
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (v, tail) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_string(), &after[end..]),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((k, v));
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert!(matches!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        ));
        match parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="reg,istry",scope="repository:a:pull""#,
        ) {
            Some(Challenge::Bearer { realm, service }) => {
                assert_eq!(realm, "https://auth.example/token");
                assert_eq!(service.as_deref(), Some("reg,istry"));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_challenge("Bearer service=x").is_none());
        assert!(parse_challenge("Negotiate abc").is_none());
    }

    proptest::proptest! {
        #[test]
        fn challenge_parser_never_panics(s in "\\PC{0,200}") {
            let _ = parse_challenge(&s);
        }
    }
}
