//! The "Provider" and "Region" fields of the dialogs that make something on a provider (import an
//! image, a new volume).

use leptos::prelude::*;
use wintermute_api::providers::Provider;

/// "Provider" and "Region" selects over `providers` (those the user may use for the dialog):
/// the first provider is chosen once the list is there, and choosing a provider brings its
/// default region, or its first allowed one; only allowed regions are offered.
#[component]
pub fn ProviderRegion(
    #[prop(into)] providers: Signal<Vec<Provider>>,
    provider_id: RwSignal<i64>,
    region: RwSignal<String>,
    /// Called after the user chooses another provider.
    #[prop(optional)]
    on_change: Option<Callback<()>>,
) -> impl IntoView {
    let choose = move |p: &Provider| {
        provider_id.set(p.id);
        region.set(first_region(p));
    };
    Effect::new(move |_| {
        let list = providers.get();
        if provider_id.get_untracked() == 0 {
            if let Some(p) = list.first() {
                choose(p);
            }
        }
    });
    let regions = move || -> Vec<String> {
        let id = provider_id.get();
        providers.with(|list| {
            list.iter()
                .find(|p| p.id == id)
                .map(|p| p.regions.iter().filter(|r| r.allowed).map(|r| r.name.clone()).collect())
                .unwrap_or_default()
        })
    };
    let pick_provider = move |ev: leptos::ev::Event| {
        let id = event_target_value(&ev).parse().unwrap_or(0);
        match providers.with_untracked(|list| list.iter().find(|p| p.id == id).cloned()) {
            Some(p) => choose(&p),
            None => provider_id.set(id),
        }
        if let Some(f) = on_change {
            f.run(());
        }
    };
    view! {
        <label>
            "Provider"
            <select name="provider" on:change=pick_provider>
                {move || {
                    providers
                        .get()
                        .into_iter()
                        .map(|p| {
                            let id = p.id;
                            view! { <option value=id.to_string() selected=move || provider_id.get() == id>{p.name}</option> }
                        })
                        .collect_view()
                }}
            </select>
        </label>
        <label>
            "Region"
            <select name="region" on:change=move |ev| region.set(event_target_value(&ev))>
                {move || {
                    regions()
                        .into_iter()
                        .map(|r| {
                            let v = r.clone();
                            view! { <option value=r.clone() selected=move || region.get() == v>{r.clone()}</option> }
                        })
                        .collect_view()
                }}
            </select>
        </label>
    }
}

/// The provider's default region when it is allowed, else its first allowed one.
fn first_region(p: &Provider) -> String {
    let allowed: Vec<&str> = p.regions.iter().filter(|r| r.allowed).map(|r| r.name.as_str()).collect();
    if allowed.contains(&p.default_region.as_str()) {
        p.default_region.clone()
    } else {
        allowed.first().map(|r| r.to_string()).unwrap_or_default()
    }
}
