//! The HTTP side: Keystone v3 password authentication with a cached token that is renewed
//! before it expires (and once more when a service answers 401), the service catalogue with
//! region and interface selection, API version discovery and the microversion headers of Nova
//! and Cinder.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wintermute_cloud::{CloudError, Operation};
use wintermute_custody::SecretString;

use crate::error::{body_message, classify, transport};
use crate::OpenstackSettings;

/// The services the provider uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Service {
    /// Nova.
    Compute,
    /// Glance.
    Image,
    /// Cinder.
    Volume,
    /// Neutron.
    Network,
}

impl Service {
    /// The catalogue types that name the service, preferred first.
    fn catalog_types(self) -> &'static [&'static str] {
        match self {
            Self::Compute => &["compute"],
            Self::Image => &["image"],
            Self::Volume => &["block-storage", "volumev3", "volume"],
            Self::Network => &["network"],
        }
    }

    /// A person's name for the service, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Compute => "the compute service (Nova)",
            Self::Image => "the image service (Glance)",
            Self::Volume => "the block storage service (Cinder)",
            Self::Network => "the network service (Neutron)",
        }
    }

    /// The major API version the provider speaks.
    fn major(self) -> &'static str {
        match self {
            Self::Compute => "2",
            Self::Image => "2",
            Self::Volume => "3",
            Self::Network => "2",
        }
    }

    /// The microversion the provider is written for (the newest it asks for), and the header
    /// name the service reads it from.
    fn wanted_microversion(self) -> Option<(u32, u32, &'static str)> {
        match self {
            // 2.79: `networks` is required on create (2.37), volume attachments may be deleted
            // with the server (2.79), key pair types (2.2).
            Self::Compute => Some((2, 79, "compute")),
            // 3.60: volume lists filter by time; everything used here is older.
            Self::Volume => Some((3, 60, "volume")),
            _ => None,
        }
    }
}

/// One service endpoint after version discovery.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The versioned base URL, without a trailing slash.
    pub base: String,
    /// The microversion header's service name and the version chosen (`compute`, `2.79`).
    pub microversion: Option<(&'static str, String)>,
}

impl Endpoint {
    /// The microversion chosen, as (major, minor).
    pub fn microversion(&self) -> Option<(u32, u32)> {
        let (_, v) = self.microversion.as_ref()?;
        parse_version(v)
    }
}

/// An endpoint of the catalogue.
#[derive(Debug, Clone)]
struct CatalogEndpoint {
    service_type: String,
    interface: String,
    region: String,
    url: String,
}

/// A Keystone token scoped to the project, with the catalogue it came with.
pub(crate) struct Session {
    token: SecretString,
    expires_at: DateTime<Utc>,
    /// The project's id.
    pub project_id: String,
    catalog: Vec<CatalogEndpoint>,
    /// Set when a service refused the token: the next call authenticates again.
    refused: std::sync::atomic::AtomicBool,
}

impl Session {
    /// The regions that have at least one endpoint, sorted.
    pub fn regions(&self) -> Vec<String> {
        let mut r: Vec<String> = self.catalog.iter().map(|e| e.region.clone()).filter(|r| !r.is_empty()).collect();
        r.sort();
        r.dedup();
        r
    }
}

/// A request to one service.
pub(crate) struct Call<'a> {
    pub op: Operation,
    pub service: Service,
    pub region: &'a str,
    pub method: Method,
    /// The path below the service's versioned base, starting with `/`.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Value>,
    /// What a 404 is about: the kind of object and its id.
    pub about: (&'a str, &'a str),
}

impl<'a> Call<'a> {
    pub fn new(op: Operation, service: Service, region: &'a str, method: Method, path: impl Into<String>) -> Self {
        Self { op, service, region, method, path: path.into(), query: Vec::new(), body: None, about: ("object", "?") }
    }

    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    pub fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    pub fn about(mut self, what: &'a str, id: &'a str) -> Self {
        self.about = (what, id);
        self
    }
}

/// The HTTP client, the token and the discovered endpoints of one provider.
pub(crate) struct Client {
    settings: OpenstackSettings,
    http: reqwest::Client,
    session: tokio::sync::Mutex<Option<Arc<Session>>>,
    endpoints: Mutex<HashMap<(Service, String), Endpoint>>,
    authentications: AtomicU64,
}

impl Client {
    pub fn new(settings: OpenstackSettings) -> Result<Self, CloudError> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.attempt_timeout)
            .user_agent(concat!("wintermute/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CloudError::InvalidRequest(format!("the HTTP client could not be set up: {e}")))?;
        Ok(Self {
            settings,
            http,
            session: tokio::sync::Mutex::new(None),
            endpoints: Mutex::new(HashMap::new()),
            authentications: AtomicU64::new(0),
        })
    }

    pub fn settings(&self) -> &OpenstackSettings {
        &self.settings
    }

    /// How many times the client authenticated with Keystone.
    pub fn authentications(&self) -> u64 {
        self.authentications.load(Ordering::Relaxed)
    }

    /// The current token, renewed first when it expires soon or a service refused it.
    pub async fn session(&self, op: Operation) -> Result<Arc<Session>, CloudError> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref() {
            let left = s.expires_at - Utc::now();
            let fresh = left.to_std().is_ok_and(|left| left > self.settings.renew_before);
            if fresh && !s.refused.load(Ordering::Relaxed) {
                return Ok(s.clone());
            }
        }
        let s = Arc::new(self.authenticate(op).await?);
        *guard = Some(s.clone());
        Ok(s)
    }

    /// Keystone v3 password authentication, scoped to the project.
    async fn authenticate(&self, op: Operation) -> Result<Session, CloudError> {
        let s = &self.settings;
        let url = format!("{}/v3/auth/tokens", s.auth_url.trim_end_matches('/'));
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": s.username, "domain": {"name": s.domain}, "password": s.password.expose(),
            }}},
            "scope": {"project": {"name": s.project, "domain": {"name": s.domain}}},
        }});
        let resp = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport(op, s.attempt_timeout, "Keystone", &e))?;
        let status = resp.status();
        let token = resp.headers().get("x-subject-token").and_then(|v| v.to_str().ok()).map(str::to_string);
        let text = resp.text().await.map_err(|e| transport(op, s.attempt_timeout, "Keystone", &e))?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(CloudError::Auth(format!(
                "Keystone refused user {:?} of project {:?} in domain {:?}: {}",
                s.username,
                s.project,
                s.domain,
                body_message(&text)
            )));
        }
        if status == StatusCode::NOT_FOUND {
            return Err(CloudError::InvalidRequest(format!(
                "{url} is not a Keystone v3 service (give the auth URL without a version suffix)"
            )));
        }
        if !status.is_success() {
            return Err(classify(status.as_u16(), &text, "Keystone", &s.auth_url));
        }
        let token = token.ok_or_else(|| CloudError::Unavailable("Keystone issued no token".into()))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|_| CloudError::Unavailable("Keystone sent a token that could not be read".into()))?;
        let t = &v["token"];
        let expires_at = t["expires_at"]
            .as_str()
            .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
            .map(|e| e.with_timezone(&Utc))
            .ok_or_else(|| CloudError::Unavailable("Keystone sent a token without an expiry".into()))?;
        let project_id = t["project"]["id"].as_str().unwrap_or_default().to_string();
        let mut catalog = Vec::new();
        for entry in t["catalog"].as_array().into_iter().flatten() {
            let service_type = entry["type"].as_str().unwrap_or_default();
            for e in entry["endpoints"].as_array().into_iter().flatten() {
                catalog.push(CatalogEndpoint {
                    service_type: service_type.to_string(),
                    interface: e["interface"].as_str().unwrap_or_default().to_string(),
                    region: e["region_id"].as_str().or_else(|| e["region"].as_str()).unwrap_or_default().to_string(),
                    url: e["url"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
        self.authentications.fetch_add(1, Ordering::Relaxed);
        // A new catalogue may point elsewhere: discover again.
        self.endpoints.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(Session {
            token: SecretString::new(token),
            expires_at,
            project_id,
            catalog,
            refused: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The endpoint of `service` in `region`, its version discovered on first use.
    pub async fn endpoint(
        &self,
        op: Operation,
        session: &Session,
        service: Service,
        region: &str,
    ) -> Result<Endpoint, CloudError> {
        let key = (service, region.to_string());
        if let Some(e) = self.endpoints.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(e.clone());
        }
        let url = service
            .catalog_types()
            .iter()
            .find_map(|t| {
                session
                    .catalog
                    .iter()
                    .find(|e| e.service_type == *t && e.region == region && e.interface == self.settings.interface)
            })
            .map(|e| e.url.trim_end_matches('/').to_string())
            .ok_or_else(|| {
                if session.regions().iter().any(|r| r == region) {
                    CloudError::InvalidRequest(format!(
                        "the catalogue has no {} endpoint of {} in region {region}",
                        self.settings.interface,
                        service.name()
                    ))
                } else {
                    CloudError::InvalidRequest(format!(
                        "region {region:?} is not in the cloud's catalogue (regions: {})",
                        session.regions().join(", ")
                    ))
                }
            })?;
        let endpoint = self.discover(op, session, service, &url).await?;
        self.endpoints.lock().unwrap_or_else(|p| p.into_inner()).insert(key, endpoint.clone());
        Ok(endpoint)
    }

    /// Finds the versioned base URL and the microversion range of a service from its version
    /// document(s).
    async fn discover(
        &self,
        op: Operation,
        session: &Session,
        service: Service,
        url: &str,
    ) -> Result<Endpoint, CloudError> {
        let parsed = url::Url::parse(url)
            .map_err(|_| CloudError::InvalidRequest(format!("the catalogue's URL {url:?} is not a URL")))?;
        let segments: Vec<&str> = parsed.path_segments().map(|s| s.collect()).unwrap_or_default();
        let version_at = segments.iter().position(|s| is_version_segment(s));
        let (doc_url, base) = match version_at {
            // The catalogue names the version (Nova's `/v2.1`, Cinder's `/v3/<project>`): its
            // version document is at that segment.
            Some(i) => {
                let mut doc = parsed.clone();
                doc.set_path(&format!("{}/", segments[..=i].join("/")));
                (doc.to_string(), Some(url.to_string()))
            }
            None => (format!("{url}/"), None),
        };
        let doc = self.get_json(op, session, service, &doc_url).await?;
        let versions: Vec<&Value> = match (&doc["version"], &doc["versions"]) {
            (v @ Value::Object(_), _) => vec![v],
            (_, Value::Array(list)) => list.iter().collect(),
            (_, Value::Object(o)) => {
                o.get("values").and_then(Value::as_array).map(|l| l.iter().collect()).unwrap_or_default()
            }
            _ => Vec::new(),
        };
        let major = service.major();
        let matching = |v: &&Value| {
            v["id"].as_str().is_some_and(|id| id.trim_start_matches('v').split('.').next() == Some(major))
                && !v["status"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("deprecated"))
        };
        // Prefer the CURRENT version, else the last listed.
        let candidates: Vec<&Value> = versions.iter().filter(|v| matching(v)).copied().collect();
        let chosen = candidates
            .iter()
            .find(|v| v["status"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("current")))
            .or_else(|| candidates.last())
            .copied()
            .ok_or_else(|| {
                CloudError::Unavailable(format!("{} offers no version {major} API at {url}", service.name()))
            })?;
        let base = match base {
            Some(b) => b,
            None => chosen["links"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|l| l["rel"] == "self")
                .and_then(|l| l["href"].as_str())
                .map(|h| h.trim_end_matches('/').to_string())
                .ok_or_else(|| CloudError::Unavailable(format!("{} names no URL for its API", service.name())))?,
        };
        let microversion = match service.wanted_microversion() {
            Some((wmaj, wmin, header)) => {
                let max = chosen["version"].as_str().or_else(|| chosen["max_version"].as_str()).and_then(parse_version);
                let min = chosen["min_version"].as_str().and_then(parse_version);
                match (min, max) {
                    (Some(min), Some(max)) if max >= min && max.0 == wmaj => {
                        let pick = (wmaj, wmin).min(max);
                        if pick < min {
                            return Err(CloudError::Unavailable(format!(
                                "{} needs API version {}.{} or newer; this provider speaks up to {wmaj}.{wmin}",
                                service.name(),
                                min.0,
                                min.1
                            )));
                        }
                        Some((header, format!("{}.{}", pick.0, pick.1)))
                    }
                    // No microversions announced: the base version.
                    _ => None,
                }
            }
            None => None,
        };
        Ok(Endpoint { base, microversion })
    }

    async fn get_json(
        &self,
        op: Operation,
        session: &Session,
        service: Service,
        url: &str,
    ) -> Result<Value, CloudError> {
        let timeout = self.settings.attempt_timeout;
        let resp = self
            .http
            .get(url)
            .header("X-Auth-Token", session.token.expose().as_str())
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| transport(op, timeout, service.name(), &e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| transport(op, timeout, service.name(), &e))?;
        // Version documents come back as 300 Multiple Choices from some services.
        if !(status.is_success() || status == StatusCode::MULTIPLE_CHOICES) {
            return Err(classify(status.as_u16(), &text, "version document", url));
        }
        serde_json::from_str(&text).map_err(|_| {
            CloudError::Unavailable(format!("{} sent a version document that could not be read", service.name()))
        })
    }

    /// Sends a call and returns its JSON answer (`Value::Null` for an empty one). A 401 makes
    /// the client authenticate again and repeat the call once.
    pub async fn send(&self, call: Call<'_>) -> Result<Value, CloudError> {
        let mut renewed = false;
        loop {
            let session = self.session(call.op).await?;
            let endpoint = self.endpoint(call.op, &session, call.service, call.region).await?;
            let url = format!("{}{}", endpoint.base, call.path);
            let mut req = self
                .http
                .request(call.method.clone(), &url)
                .header("X-Auth-Token", session.token.expose().as_str())
                .header("Accept", "application/json");
            if let Some((service, version)) = &endpoint.microversion {
                req = req.header("OpenStack-API-Version", format!("{service} {version}"));
                if *service == "compute" {
                    req = req.header("X-OpenStack-Nova-API-Version", version.as_str());
                }
            }
            if !call.query.is_empty() {
                req = req.query(&call.query);
            }
            if let Some(body) = &call.body {
                req = req.json(body);
            }
            let timeout = self.settings.attempt_timeout;
            let resp = req.send().await.map_err(|e| transport(call.op, timeout, call.service.name(), &e))?;
            let status = resp.status();
            let text = resp.text().await.map_err(|e| transport(call.op, timeout, call.service.name(), &e))?;
            if status == StatusCode::UNAUTHORIZED && !renewed {
                // The token was revoked or expired early: authenticate again, once.
                session.refused.store(true, Ordering::Relaxed);
                renewed = true;
                continue;
            }
            if !status.is_success() {
                return Err(classify(status.as_u16(), &text, call.about.0, call.about.1));
            }
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|_| {
                CloudError::Unavailable(format!("{} sent an answer that could not be read", call.service.name()))
            });
        }
    }
}

fn is_version_segment(s: &str) -> bool {
    s.strip_prefix('v').is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// Reads `2.79` (or `v2.1`).
pub(crate) fn parse_version(v: &str) -> Option<(u32, u32)> {
    let v = v.trim_start_matches('v');
    let (a, b) = v.split_once('.').unwrap_or((v, "0"));
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("2.79"), Some((2, 79)));
        assert_eq!(parse_version("v2.1"), Some((2, 1)));
        assert_eq!(parse_version("3"), Some((3, 0)));
        assert_eq!(parse_version("x"), None);
        assert!((2, 9) < (2, 10));
        assert!(is_version_segment("v2.1") && is_version_segment("v3") && !is_version_segment("volume"));
        assert!(!is_version_segment("v"));
    }
}
