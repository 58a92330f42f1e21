//! Where SSH to instances is opened from (manual 6.1.1): the core's own security group allows
//! port 22 only from the core's address — discovered through WMAIS_SG_AUTO_IP_DISCOVER when
//! WMAIS_SG_IP_ADDRESS is "static", given by the administrator as an address, or from anywhere
//! when it is "dynamic" — widened by WMAIS_SG_IP_CIDR.

use std::net::IpAddr;
use std::time::Duration;

use wintermute_cloud::Cidr;

use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};

const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(10);

impl Engine {
    /// The range SSH is opened to: `Some("203.0.113.7/32")`, or `None` for everywhere ("dynamic").
    pub async fn ssh_ingress_cidr(&self) -> CoreResult<Option<String>> {
        let mode = self.setting_string("WMAIS_SG_IP_ADDRESS");
        let prefix = self.setting_string("WMAIS_SG_IP_CIDR");
        let addr: IpAddr = match mode.as_str() {
            "dynamic" => return Ok(None),
            "static" => self.discover_own_address().await?,
            fixed => fixed
                .parse()
                .map_err(|_| CoreError::invalid("WMAIS_SG_IP_ADDRESS", format!("{fixed:?} is not an address")))?,
        };
        let text = format!("{addr}{prefix}");
        let cidr: Cidr = text.parse().map_err(|_| {
            CoreError::invalid("WMAIS_SG_IP_CIDR", format!("{prefix:?} does not fit the address {addr}"))
        })?;
        Ok(Some(cidr.to_string()))
    }

    async fn discover_own_address(&self) -> CoreResult<IpAddr> {
        let url = self.setting_string("WMAIS_SG_AUTO_IP_DISCOVER");
        let unavailable = |why: String| {
            CoreError::Unavailable(format!(
                "cannot discover the core's address through {url} ({why}); set WMAIS_SG_IP_ADDRESS to the address, or to \"dynamic\""
            ))
        };
        let client =
            reqwest::Client::builder().timeout(DISCOVERY_TIMEOUT).build().map_err(|e| unavailable(e.to_string()))?;
        let resp = client.get(&url).send().await.map_err(|e| unavailable(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(unavailable(format!("it answered {}", resp.status())));
        }
        let body = resp.text().await.map_err(|e| unavailable(e.to_string()))?;
        let first = body.split_whitespace().next().unwrap_or_default();
        first.parse().map_err(|_| {
            unavailable(format!("its answer {:?} is not an IP address", body.chars().take(60).collect::<String>()))
        })
    }
}
