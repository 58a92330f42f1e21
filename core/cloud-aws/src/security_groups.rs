//! The core's SSH security group, and the account's groups.

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, ResourceType, SecurityGroup};
use wintermute_cloud::{Cidr, CloudError, Operation, SecurityGroupInfo, Tags, ANYWHERE_V4};

use crate::client::Ec2;
use crate::convert::{filter, tag_spec};

const SSH_PORT: i32 = 22;

/// Makes sure group `name` exists and that port 22 is open to exactly `ssh_cidr`.
pub(crate) async fn ensure(
    ec2: &Ec2,
    name: &str,
    description: &str,
    ssh_cidr: Option<&str>,
    tags: &Tags,
) -> Result<SecurityGroupInfo, CloudError> {
    let op = Operation::EnsureSecurityGroup;
    let wanted = match ssh_cidr {
        Some(text) => text.parse::<Cidr>()?,
        None => ANYWHERE_V4,
    };
    if name.trim().is_empty() {
        return Err(CloudError::InvalidRequest("a security group needs a name".into()));
    }
    let group = match find_by_name(ec2, name, op).await? {
        Some(group) => group,
        None => create(ec2, name, description, tags).await?,
    };
    let group_id = group
        .group_id()
        .ok_or_else(|| CloudError::Provider {
            code: "NoGroupId".into(),
            message: format!("EC2 described security group {name} without its id"),
        })?
        .to_string();

    // Open the wanted range first, then close the rest, so SSH is never shut for a moment.
    let already = group.ip_permissions().iter().any(|p| is_exact_ssh_rule(p) && rule_has(p, &wanted));
    if !already {
        let authorize = ec2
            .client
            .authorize_security_group_ingress()
            .group_id(&group_id)
            .ip_permissions(ssh_rule(&wanted))
            .send()
            .await;
        if let Err(e) = authorize {
            if e.as_service_error().and_then(|s| s.code()) != Some("InvalidPermission.Duplicate") {
                return Err(ec2.err(op)(e));
            }
        }
    }
    let revoke: Vec<IpPermission> = group.ip_permissions().iter().filter_map(|p| without(p, &wanted)).collect();
    if !revoke.is_empty() {
        ec2.client
            .revoke_security_group_ingress()
            .group_id(&group_id)
            .set_ip_permissions(Some(revoke))
            .send()
            .await
            .map_err(ec2.err(op))?;
    }

    let out = ec2.client.describe_security_groups().group_ids(&group_id).send().await.map_err(ec2.err(op))?;
    out.security_groups().first().map(info).ok_or_else(|| CloudError::not_found("security group", group_id))
}

/// Every security group of the region.
pub(crate) async fn list(ec2: &Ec2) -> Result<Vec<SecurityGroupInfo>, CloudError> {
    let mut pages = ec2.client.describe_security_groups().max_results(1000).into_paginator().send();
    let mut groups = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(ec2.err(Operation::SecurityGroups))?;
        groups.extend(page.security_groups().iter().map(info));
    }
    groups.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    Ok(groups)
}

async fn find_by_name(ec2: &Ec2, name: &str, op: Operation) -> Result<Option<SecurityGroup>, CloudError> {
    let out = ec2
        .client
        .describe_security_groups()
        .filters(filter("group-name", [name]))
        .send()
        .await
        .map_err(ec2.err(op))?;
    Ok(out.security_groups().iter().find(|g| g.group_name() == Some(name)).cloned())
}

async fn create(ec2: &Ec2, name: &str, description: &str, tags: &Tags) -> Result<SecurityGroup, CloudError> {
    let op = Operation::EnsureSecurityGroup;
    let created = ec2
        .client
        .create_security_group()
        .group_name(name)
        .description(if description.trim().is_empty() { name } else { description })
        .set_tag_specifications(tag_spec(ResourceType::SecurityGroup, tags).map(|t| vec![t]))
        .send()
        .await;
    match created {
        Ok(_) => {}
        // Made meanwhile by someone else (another replica of the core): use that one.
        Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("InvalidGroup.Duplicate") => {}
        Err(e) => return Err(ec2.err(op)(e)),
    }
    find_by_name(ec2, name, op).await?.ok_or_else(|| CloudError::not_found("security group", name))
}

/// The rule the core wants: TCP 22 from `cidr`.
fn ssh_rule(cidr: &Cidr) -> IpPermission {
    let rule = IpPermission::builder().ip_protocol("tcp").from_port(SSH_PORT).to_port(SSH_PORT);
    let text = cidr.to_string();
    if cidr.is_ipv6() {
        rule.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(text).description("Wintermute SSH").build()).build()
    } else {
        rule.ip_ranges(IpRange::builder().cidr_ip(text).description("Wintermute SSH").build()).build()
    }
}

/// Whether a rule lets anything in on TCP port 22 (all-traffic rules and port ranges too).
fn opens_ssh(p: &IpPermission) -> bool {
    match p.ip_protocol() {
        Some("-1" | "all") => true,
        Some("tcp" | "6") => {
            let from = p.from_port().unwrap_or(0);
            let to = p.to_port().unwrap_or(65535);
            from == -1 || (from <= SSH_PORT && SSH_PORT <= to)
        }
        _ => false,
    }
}

fn is_exact_ssh_rule(p: &IpPermission) -> bool {
    matches!(p.ip_protocol(), Some("tcp" | "6")) && p.from_port() == Some(SSH_PORT) && p.to_port() == Some(SSH_PORT)
}

fn rule_has(p: &IpPermission, cidr: &Cidr) -> bool {
    sources(p).iter().any(|s| s.parse::<Cidr>().ok().as_ref() == Some(cidr))
}

/// The address ranges of a rule, IPv4 and IPv6.
fn sources(p: &IpPermission) -> Vec<String> {
    let v4 = p.ip_ranges().iter().filter_map(|r| r.cidr_ip());
    let v6 = p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6());
    v4.chain(v6).map(str::to_string).collect()
}

/// What of rule `p` must go so that port 22 is open to `wanted` only: `None` when nothing.
fn without(p: &IpPermission, wanted: &Cidr) -> Option<IpPermission> {
    if !opens_ssh(p) {
        return None;
    }
    let keep =
        |cidr: Option<&str>| is_exact_ssh_rule(p) && cidr.and_then(|c| c.parse::<Cidr>().ok()).as_ref() == Some(wanted);
    let v4: Vec<IpRange> = p
        .ip_ranges()
        .iter()
        .filter(|r| !keep(r.cidr_ip()))
        .map(|r| IpRange::builder().set_cidr_ip(r.cidr_ip().map(str::to_string)).build())
        .collect();
    let v6: Vec<Ipv6Range> = p
        .ipv6_ranges()
        .iter()
        .filter(|r| !keep(r.cidr_ipv6()))
        .map(|r| Ipv6Range::builder().set_cidr_ipv6(r.cidr_ipv6().map(str::to_string)).build())
        .collect();
    let groups = p.user_id_group_pairs().to_vec();
    let prefixes = p.prefix_list_ids().to_vec();
    if v4.is_empty() && v6.is_empty() && groups.is_empty() && prefixes.is_empty() {
        return None;
    }
    Some(
        IpPermission::builder()
            .set_ip_protocol(p.ip_protocol().map(str::to_string))
            .set_from_port(p.from_port())
            .set_to_port(p.to_port())
            .set_ip_ranges((!v4.is_empty()).then_some(v4))
            .set_ipv6_ranges((!v6.is_empty()).then_some(v6))
            .set_user_id_group_pairs((!groups.is_empty()).then_some(groups))
            .set_prefix_list_ids((!prefixes.is_empty()).then_some(prefixes))
            .build(),
    )
}

fn info(g: &SecurityGroup) -> SecurityGroupInfo {
    let mut ssh_cidrs: Vec<String> = g.ip_permissions().iter().filter(|p| opens_ssh(p)).flat_map(sources).collect();
    ssh_cidrs.sort();
    ssh_cidrs.dedup();
    SecurityGroupInfo {
        id: g.group_id().unwrap_or_default().to_string(),
        name: g.group_name().unwrap_or_default().to_string(),
        description: g.description().map(str::to_string),
        ssh_cidrs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(proto: &str, from: i32, to: i32, cidrs: &[&str]) -> IpPermission {
        let mut b = IpPermission::builder().ip_protocol(proto).from_port(from).to_port(to);
        for c in cidrs {
            b = b.ip_ranges(IpRange::builder().cidr_ip(*c).build());
        }
        b.build()
    }

    fn cidrs(p: &IpPermission) -> Vec<String> {
        sources(p)
    }

    #[test]
    fn only_port_22_rules_count() {
        assert!(opens_ssh(&rule("tcp", 22, 22, &[])));
        assert!(opens_ssh(&rule("tcp", 0, 1024, &[])));
        assert!(opens_ssh(&rule("-1", -1, -1, &[])));
        assert!(!opens_ssh(&rule("tcp", 80, 443, &[])));
        assert!(!opens_ssh(&rule("udp", 22, 22, &[])));
    }

    #[test]
    fn everything_but_the_wanted_range_is_revoked() {
        let wanted: Cidr = "198.51.100.7/32".parse().unwrap();
        let mixed = rule("tcp", 22, 22, &["198.51.100.7/32", "0.0.0.0/0"]);
        assert_eq!(cidrs(&without(&mixed, &wanted).unwrap()), ["0.0.0.0/0"]);
        assert!(without(&rule("tcp", 22, 22, &["198.51.100.7/32"]), &wanted).is_none());
        assert!(without(&rule("tcp", 443, 443, &["0.0.0.0/0"]), &wanted).is_none());
        // A wider rule that also covers 22 goes, even with the wanted range in it.
        assert_eq!(cidrs(&without(&rule("tcp", 0, 1024, &["198.51.100.7/32"]), &wanted).unwrap()), ["198.51.100.7/32"]);
    }

    #[test]
    fn the_wanted_rule() {
        let r = ssh_rule(&"2001:db8::/64".parse().unwrap());
        assert_eq!(cidrs(&r), ["2001:db8::/64"]);
        assert!(is_exact_ssh_rule(&r));
        let r = ssh_rule(&ANYWHERE_V4);
        assert_eq!(cidrs(&r), ["0.0.0.0/0"]);
    }
}
