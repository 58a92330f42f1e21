//! A row's actions: small buttons that open a dialog, or an "Actions ▾" menu of them.

use leptos::prelude::*;

/// A row's small button that opens a dialog: sets `dialog` to `to` when clicked.
pub fn open_button<D: Clone + Send + Sync + 'static>(
    dialog: RwSignal<D>,
    to: D,
    label: &'static str,
    danger: bool,
) -> impl IntoView {
    view! {
        <button type="button" class="small" class:danger=danger on:click=move |_| dialog.set(to.clone())>
            {label}
        </button>
    }
}

/// An item of a [`RowMenu`] that opens a dialog; `to` is made when it is chosen.
pub fn menu_item<D, F>(dialog: RwSignal<D>, label: &'static str, disabled: bool, to: F) -> impl IntoView
where
    D: Send + Sync + 'static,
    F: Fn() -> D + Send + Sync + 'static,
{
    view! {
        <button type="button" role="menuitem" disabled=disabled on:click=move |_| dialog.set(to())>
            {label}
        </button>
    }
}

/// "Actions ▾" of the row `id`: one menu of the page is open at a time (`menu` holds its row);
/// Enter or a click opens it, Escape or choosing an item closes it.
#[component]
pub fn RowMenu(
    menu: RwSignal<Option<i64>>,
    id: i64,
    /// The button's name for screen readers ("Actions of web-1").
    #[prop(optional, into)]
    label: Option<String>,
    children: ChildrenFn,
) -> impl IntoView {
    let open = move || menu.get() == Some(id);
    let children = StoredValue::new(children);
    view! {
        <div
            class="menu-wrap"
            on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                if ev.key() == "Escape" {
                    menu.set(None);
                }
            }
        >
            <button
                type="button"
                class="small"
                aria-haspopup="true"
                aria-expanded=move || open().to_string()
                aria-label=label
                on:click=move |_| menu.update(|m| *m = if *m == Some(id) { None } else { Some(id) })
            >
                "Actions ▾"
            </button>
            <Show when=open>
                <div class="dropdown" role="menu" on:click=move |_| menu.set(None)>
                    {children.with_value(|c| c())}
                </div>
            </Show>
        </div>
    }
}
