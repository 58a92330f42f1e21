//! SSH key pairs: only public keys ever go to EC2.

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::ResourceType;
use wintermute_cloud::{CloudError, KeyPairInfo, Operation, Tags};

use crate::client::Ec2;
use crate::convert::tag_spec;

/// Imports a public key; an existing pair with the same name and key is success.
pub(crate) async fn import(ec2: &Ec2, name: &str, public_key: &str, tags: &Tags) -> Result<KeyPairInfo, CloudError> {
    let op = Operation::ImportKeyPair;
    let wanted = parse_public_key(public_key)?;
    if name.trim().is_empty() || name.len() > 255 {
        return Err(CloudError::InvalidRequest("a key pair needs a name of 1 to 255 characters".into()));
    }
    let result = ec2
        .client
        .import_key_pair()
        .key_name(name)
        .public_key_material(Blob::new(public_key.trim().as_bytes()))
        .set_tag_specifications(tag_spec(ResourceType::KeyPair, tags).map(|t| vec![t]))
        .send()
        .await;
    match result {
        Ok(out) => Ok(KeyPairInfo {
            name: out.key_name().unwrap_or(name).to_string(),
            key_pair_id: out.key_pair_id().map(str::to_string),
            fingerprint: out.key_fingerprint().map(str::to_string),
        }),
        Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("InvalidKeyPair.Duplicate") => {
            let existing = ec2
                .client
                .describe_key_pairs()
                .key_names(name)
                .include_public_key(true)
                .send()
                .await
                .map_err(ec2.err(op))?;
            let pair = existing
                .key_pairs()
                .iter()
                .find(|k| k.key_name() == Some(name))
                .ok_or_else(|| CloudError::not_found("key pair", name))?;
            let same = pair.public_key().and_then(|k| parse_public_key(k).ok()).is_some_and(|k| k == wanted);
            if !same {
                return Err(CloudError::InvalidRequest(format!(
                    "a key pair named {name} already exists with a different key"
                )));
            }
            Ok(KeyPairInfo {
                name: name.to_string(),
                key_pair_id: pair.key_pair_id().map(str::to_string),
                fingerprint: pair.key_fingerprint().map(str::to_string),
            })
        }
        Err(e) => Err(ec2.err(op)(e)),
    }
}

/// Deletes a key pair; a missing one is success.
pub(crate) async fn delete(ec2: &Ec2, name: &str) -> Result<(), CloudError> {
    match ec2
        .client
        .delete_key_pair()
        .key_name(name)
        .send()
        .await
        .map_err(ec2.err_about(Operation::DeleteKeyPair, &[name]))
    {
        Ok(_) | Err(CloudError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The key type and base64 body of an OpenSSH public key line (the comment is ignored).
/// Private keys are refused outright, so one can never be sent by mistake.
fn parse_public_key(text: &str) -> Result<(String, String), CloudError> {
    if text.contains("PRIVATE KEY") {
        return Err(CloudError::InvalidRequest("that is a private key: only public keys go to the cloud".into()));
    }
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(kind @ ("ssh-ed25519" | "ssh-rsa")), Some(body)) if body.starts_with("AAAA") => {
            Ok((kind.to_string(), body.to_string()))
        }
        _ => Err(CloudError::InvalidRequest(
            "not an OpenSSH public key (EC2 takes `ssh-ed25519 AAAA…` or `ssh-rsa AAAA…`)".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_only() {
        let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJxx alice@example";
        assert_eq!(
            parse_public_key(key).unwrap(),
            ("ssh-ed25519".to_string(), "AAAAC3NzaC1lZDI1NTE5AAAAIJxx".to_string())
        );
        assert_eq!(
            parse_public_key(key).unwrap(),
            parse_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJxx").unwrap()
        );
        assert!(parse_public_key("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n").is_err());
        assert!(parse_public_key("ssh-dss AAAAB3").is_err());
        assert!(parse_public_key("").is_err());
    }
}
