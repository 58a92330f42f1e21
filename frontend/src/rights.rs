//! What the logged-in user may do with each object of a kind, as the core computed it
//! (`GET /api/v1/objects`): screens show or hide their buttons with it; the core checks again.

use std::collections::BTreeMap;

use leptos::prelude::*;
use wintermute_api::rights::{ObjectKind, ObjectRight, ObjectSummary};

use crate::api::Auth;

/// The caller's rights on the objects of one kind, by object id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rights(BTreeMap<i64, ObjectSummary>);

impl Rights {
    pub fn new(list: Vec<ObjectSummary>) -> Rights {
        Rights(list.into_iter().map(|o| (o.object_id, o)).collect())
    }

    /// Whether the caller holds `right` on object `id`.
    pub fn may(&self, id: i64, right: ObjectRight) -> bool {
        self.0.get(&id).is_some_and(|o| o.my_rights.contains(&right))
    }

    /// Whether the caller holds `right` on any object of the kind.
    pub fn any(&self, right: ObjectRight) -> bool {
        self.0.values().any(|o| o.my_rights.contains(&right))
    }

    /// Whether `user` owns object `id` (owners change its security).
    pub fn owned_by(&self, id: i64, user: i64) -> bool {
        self.0.get(&id).is_some_and(|o| o.owner.id == user)
    }
}

/// Loads the caller's rights on the objects of `kind` into `rights` and on the providers into
/// `providers` (what may be made where); a signal keeps what it had when the core does not answer.
pub fn load_rights(auth: Auth, kind: ObjectKind, rights: RwSignal<Rights>, providers: RwSignal<Rights>) {
    let Ok(c) = auth.client() else { return };
    leptos::task::spawn_local(async move {
        if let Ok(list) = c.objects(Some(kind)).await {
            rights.set(Rights::new(list));
        }
        if let Ok(list) = c.objects(Some(ObjectKind::Provider)).await {
            providers.set(Rights::new(list));
        }
    });
}
