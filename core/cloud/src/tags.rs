//! Cloud tags, and the core's convention for marking what it creates.
//!
//! Everything the core creates in a cloud carries four tags, so it can always be found again
//! (by a reconcile task, or by an admin in the cloud's console):
//!
//! | key                  | value                                   |
//! |----------------------|-----------------------------------------|
//! | `wintermute:managed` | `true`                                  |
//! | `wintermute:core`    | the id of the core that created it      |
//! | `wintermute:owner`   | the login of the user it belongs to     |
//! | `wintermute:object`  | `<kind>#<id>`, the core's record for it |

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Tag key: set to `true` on everything the core creates.
pub const TAG_MANAGED: &str = "wintermute:managed";
/// Tag key: the id of the core that created the object.
pub const TAG_CORE: &str = "wintermute:core";
/// Tag key: the login of the user the object belongs to.
pub const TAG_OWNER: &str = "wintermute:owner";
/// Tag key: the core's record for the object, as `<kind>#<id>` (see [`ObjectRef`]).
pub const TAG_OBJECT: &str = "wintermute:object";
/// Tag key the clouds' consoles show as an object's name.
pub const TAG_NAME: &str = "Name";

/// Key/value tags of a cloud object, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tags(BTreeMap<String, String>);

impl Tags {
    /// No tags.
    pub fn new() -> Self {
        Self::default()
    }

    /// The core's tags for an object it creates: managed, core id, owner and object reference.
    pub fn managed(core_id: &str, owner: &str, object: &ObjectRef) -> Self {
        let mut tags = Self::new();
        tags.insert(TAG_MANAGED, "true");
        tags.insert(TAG_CORE, core_id);
        tags.insert(TAG_OWNER, owner);
        tags.insert(TAG_OBJECT, object.to_string());
        tags
    }

    /// Adds or replaces a tag.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.0.insert(key.into(), value.into());
        self
    }

    /// Builder form of [`Tags::insert`].
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(key, value);
        self
    }

    /// Adds every tag of `other`, replacing tags with the same key.
    pub fn extend(&mut self, other: &Tags) -> &mut Self {
        self.0.extend(other.0.iter().map(|(k, v)| (k.clone(), v.clone())));
        self
    }

    /// The value of a tag.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Removes a tag, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    /// The tags, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many tags there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no tags.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the object was created by a Wintermute core (any core).
    pub fn is_managed(&self) -> bool {
        self.get(TAG_MANAGED) == Some("true")
    }

    /// Whether the object was created by the core with this id.
    pub fn is_managed_by(&self, core_id: &str) -> bool {
        self.is_managed() && self.core_id() == Some(core_id)
    }

    /// The id of the core that created the object.
    pub fn core_id(&self) -> Option<&str> {
        self.get(TAG_CORE)
    }

    /// The login of the object's owner.
    pub fn owner(&self) -> Option<&str> {
        self.get(TAG_OWNER)
    }

    /// The core's record for the object, if the tag is there and well-formed.
    pub fn object(&self) -> Option<ObjectRef> {
        self.get(TAG_OBJECT).and_then(ObjectRef::parse)
    }

    /// The `Name` tag.
    pub fn name(&self) -> Option<&str> {
        self.get(TAG_NAME)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Tags {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

/// A reference to one of the core's records: `<kind>#<id>`, e.g. `instance#42`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// The kind of record: `instance`, `volume`, `key_pair`, `security_group`…
    pub kind: String,
    /// The record's id in the core.
    pub id: String,
}

impl ObjectRef {
    /// A reference to record `id` of `kind`.
    pub fn new(kind: impl Into<String>, id: impl ToString) -> Self {
        Self { kind: kind.into(), id: id.to_string() }
    }

    /// Parses `<kind>#<id>`; `None` when either side is empty or the `#` is missing.
    pub fn parse(text: &str) -> Option<Self> {
        let (kind, id) = text.split_once('#')?;
        (!kind.is_empty() && !id.is_empty()).then(|| Self::new(kind, id))
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.kind, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_tags_follow_the_convention() {
        let tags = Tags::managed("core-7", "alice", &ObjectRef::new("instance", 42));
        let pairs: Vec<_> = tags.iter().collect();
        assert_eq!(
            pairs,
            [
                ("wintermute:core", "core-7"),
                ("wintermute:managed", "true"),
                ("wintermute:object", "instance#42"),
                ("wintermute:owner", "alice"),
            ]
        );
        assert!(tags.is_managed());
        assert!(tags.is_managed_by("core-7"));
        assert!(!tags.is_managed_by("core-8"));
        assert_eq!(tags.owner(), Some("alice"));
        assert_eq!(tags.object(), Some(ObjectRef::new("instance", "42")));
    }

    #[test]
    fn object_refs_parse_strictly() {
        assert_eq!(ObjectRef::parse("volume#7"), Some(ObjectRef::new("volume", 7)));
        assert_eq!(ObjectRef::parse("key_pair#a#b"), Some(ObjectRef::new("key_pair", "a#b")));
        assert_eq!(ObjectRef::parse("volume"), None);
        assert_eq!(ObjectRef::parse("#7"), None);
        assert_eq!(ObjectRef::parse("volume#"), None);
        assert!(!Tags::new().with(TAG_MANAGED, "yes").is_managed());
    }

    #[test]
    fn tags_serialize_as_a_plain_map() {
        let tags = Tags::new().with("Name", "web-1").with("team", "ops");
        let json = serde_json::to_string(&tags).unwrap();
        assert_eq!(json, r#"{"Name":"web-1","team":"ops"}"#);
        assert_eq!(serde_json::from_str::<Tags>(&json).unwrap(), tags);
        assert_eq!(tags.name(), Some("web-1"));
    }
}
